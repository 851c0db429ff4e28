/**
 * Every entry of the checked-in syscall tables must be what libseccomp's own resolver says: a table
 * that drifted from libseccomp would put names in profiles that runc resolves to other numbers.
 * The resolver is the one of the libseccomp the tables are generated from (Debian trixie's, through
 * scripts/testenv/libseccomp, which makes its rootfs on first use): without it this test fails, it
 * does not skip.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import x86_64 from '../../../lib/seccomp/tables/x86_64.json';
import aarch64 from '../../../lib/seccomp/tables/aarch64.json';

interface Table {
  generatedBy: string;
  libseccomp: string;
  arch: string;
  syscalls: Record<string, string>;
}

const TABLES: [string, Table][] = [
  ['x86_64', x86_64],
  ['aarch64', aarch64],
];

const LIBSECCOMP = join(__dirname, '..', '..', '..', 'scripts', 'testenv', 'libseccomp');

/** The version of the libseccomp whose resolver the check runs (Debian's, without its revision). */
function resolverLibseccomp(): string {
  const root = spawnSync(LIBSECCOMP, ['--root'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (root.status !== 0) throw new Error(`scripts/testenv/libseccomp --root failed (${root.status})`);
  const v = spawnSync(
    'dpkg-query',
    [`--admindir=${root.stdout.trim()}/var/lib/dpkg`, '-W', '-f=${Version}', 'libseccomp2'],
    { encoding: 'utf8' },
  );
  if (v.status !== 0) throw new Error(`dpkg-query on the libseccomp rootfs failed: ${v.stderr}`);
  return v.stdout.replace(/-[^-]*$/, '');
}

/** One shell for all names of an arch (one resolver process per name; it takes a single name). */
function resolveAll(arch: string, names: string[]): Map<string, string> {
  const script =
    'lib=$1; arch=$2; shift 2; for n in "$@"; do r=$("$lib" scmp_sys_resolver -a "$arch" "$n") || r="error:$?"; printf "%s %s\\n" "$n" "$r"; done';
  const r = spawnSync('sh', ['-c', script, 'sh', LIBSECCOMP, arch, ...names], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`resolver loop failed (${r.status}): ${r.stderr}`);
  const out = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    if (!line) continue;
    const [name, nr] = line.split(' ');
    out.set(name, nr);
  }
  return out;
}

/** Entries whose name libseccomp resolves to another number (or not at all), as readable strings. */
function mismatches(arch: string, syscalls: Record<string, string>): string[] {
  const resolved = resolveAll(arch, Object.values(syscalls));
  return Object.entries(syscalls)
    .filter(([nr, name]) => resolved.get(name) !== nr)
    .map(
      ([nr, name]) =>
        `${arch}: table ${nr} → ${name}, scmp_sys_resolver says ${resolved.get(name) ?? 'nothing'}`,
    );
}

describe('syscall tables', () => {
  let version = '';
  beforeAll(() => {
    version = resolverLibseccomp();
  }, 300000);

  it.each(TABLES)(
    '%s: every entry matches scmp_sys_resolver',
    (arch, table) => {
      expect(table.arch).toBe(arch);
      expect(table.generatedBy).toBe('scripts/gen-syscall-tables');
      // Generated from the libseccomp that checks them.
      expect(table.libseccomp).toBe(version);
      const entries = Object.entries(table.syscalls);
      expect(entries.length).toBeGreaterThan(250);
      // Names are unique: a native table maps each name to exactly one number.
      expect(new Set(Object.values(table.syscalls)).size).toBe(entries.length);
      expect(mismatches(arch, table.syscalls)).toEqual([]);
    },
    120000,
  );

  it('the check catches a wrong entry', () => {
    expect(mismatches('x86_64', { '0': 'read', '1': 'read', '2': 'no_such_syscall' })).toEqual([
      'x86_64: table 1 → read, scmp_sys_resolver says 0',
      'x86_64: table 2 → no_such_syscall, scmp_sys_resolver says -1',
    ]);
  });
});
