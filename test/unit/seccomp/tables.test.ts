/**
 * Every entry of the checked-in syscall tables must be what libseccomp's own resolver says: a table
 * that drifted from libseccomp would put names in profiles that runc resolves to other numbers.
 * scmp_sys_resolver (Debian package `seccomp`) is required: without it this test fails, it does not skip.
 */
import { spawnSync } from 'node:child_process';
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

function requireResolver(): void {
  const r = spawnSync('sh', ['-c', 'command -v scmp_sys_resolver'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      'scmp_sys_resolver not found on PATH; install it (apt-get install seccomp) to check the tables',
    );
  }
}

/** One shell for all names of an arch (one resolver process per name; it takes a single name). */
function resolveAll(arch: string, names: string[]): Map<string, string> {
  const script =
    'arch=$1; shift; for n in "$@"; do r=$(scmp_sys_resolver -a "$arch" "$n") || r="error:$?"; printf "%s %s\\n" "$n" "$r"; done';
  const r = spawnSync('sh', ['-c', script, 'sh', arch, ...names], { encoding: 'utf8', maxBuffer: 1 << 24 });
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
  beforeAll(requireResolver);

  it.each(TABLES)(
    '%s: every entry matches scmp_sys_resolver',
    (arch, table) => {
      expect(table.arch).toBe(arch);
      expect(table.generatedBy).toBe('scripts/gen-syscall-tables');
      expect(table.libseccomp).toMatch(/^\d+\.\d+\.\d+$/);
      const entries = Object.entries(table.syscalls);
      expect(entries.length).toBeGreaterThan(250);
      // Names are unique: a native table maps each name to exactly one number.
      expect(new Set(Object.values(table.syscalls)).size).toBe(entries.length);
      expect(mismatches(arch, table.syscalls)).toEqual([]);
    },
    60000,
  );

  it('the check catches a wrong entry', () => {
    expect(mismatches('x86_64', { '0': 'read', '1': 'read', '2': 'no_such_syscall' })).toEqual([
      'x86_64: table 1 → read, scmp_sys_resolver says 0',
      'x86_64: table 2 → no_such_syscall, scmp_sys_resolver says -1',
    ]);
  });
});
