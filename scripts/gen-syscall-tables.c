/*
 * Prints one architecture's native syscall table (number -> name) as JSON, straight from
 * libseccomp, so the names kubectl-harden emits are exactly the ones libseccomp (and hence runc)
 * accepts. Built and run by scripts/gen-syscall-tables; not part of the bundle.
 */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above every native number in libseccomp 2.5/2.6 (x86_64 tops out near 460, aarch64 likewise);
 * x32 numbers carry bit 30 and are deliberately out of range: the table is the native ABI only. */
#define MAX_NR 4096

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <libseccomp arch name>\n", argv[0]);
    return 2;
  }
  uint32_t arch = seccomp_arch_resolve_name(argv[1]);
  if (arch == 0) {
    fprintf(stderr, "libseccomp does not know architecture %s\n", argv[1]);
    return 2;
  }
  const struct scmp_version *v = seccomp_version();
  printf("{\n");
  printf("  \"generatedBy\": \"scripts/gen-syscall-tables\",\n");
  printf("  \"libseccomp\": \"%u.%u.%u\",\n", v->major, v->minor, v->micro);
  printf("  \"arch\": \"%s\",\n", argv[1]);
  printf("  \"syscalls\": {");
  int n = 0;
  for (int nr = 0; nr < MAX_NR; nr++) {
    char *name = seccomp_syscall_resolve_num_arch(arch, nr);
    if (name == NULL) continue;
    printf("%s\n    \"%d\": \"%s\"", n++ ? "," : "", nr, name);
    free(name);
  }
  printf("\n  }\n}\n");
  if (n == 0) {
    fprintf(stderr, "no syscalls resolved for %s\n", argv[1]);
    return 1;
  }
  return 0;
}
