/**
 * The bpftrace the program tests run: by default the agent image's own (Debian trixie's, through
 * scripts/testenv/bpftrace-image), so CI tests exactly what users' nodes run. HARDEN_BPFTRACE
 * picks another, e.g. `HARDEN_BPFTRACE=bpftrace` for the host's (bookworm's 0.17).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { probeBpftrace, type Dialect } from '../../lib/agent/core/dialect';

export const BPFTRACE =
  process.env.HARDEN_BPFTRACE || path.resolve(__dirname, '..', '..', 'scripts', 'testenv', 'bpftrace-image');

const onPath = (bin: string) =>
  bin.includes('/')
    ? fs.existsSync(bin)
    : (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, bin)));

/** Root, and the binary exists (the image wrapper also needs mmdebstrap the first time). */
export const canRunBpftrace = process.getuid?.() === 0 && onPath(BPFTRACE);

/** Probes the binary the way the agent does; a version the agent refuses fails the suite. */
export async function dialectUnderTest(): Promise<{ version: string; dialect: Dialect }> {
  const probe = await probeBpftrace(BPFTRACE);
  if (!probe.dialect) throw probe.problem ?? new Error(`${BPFTRACE}: no dialect`);
  const regs =
    probe.dialect.userRegs === undefined ? '' : `, user registers at stack + ${probe.dialect.userRegs}`;
  process.stderr.write(
    `bpftrace under test: ${BPFTRACE}: ${probe.version} (${probe.dialect.series}${regs})\n`,
  );
  return { version: probe.version, dialect: probe.dialect };
}
