import * as fs from 'node:fs';
import * as path from 'node:path';
import { BpftraceError } from '../../../lib/agent/core/bpftrace-error';
import { btfProblem, dialectFor, parseUserRegs, parseVersion } from '../../../lib/agent/core/dialect';
import { GOLDEN_DIR } from '../golden';

/** `bpftrace --info` as captured on this project's test machine (Linux 6.18). */
const info = (series: string) =>
  fs.readFileSync(path.join(GOLDEN_DIR, `agent/bpftrace-${series}-info.txt`), 'utf8');

describe('bpftrace version → program dialect', () => {
  test('the version is read from --version output', () => {
    expect(parseVersion('bpftrace v0.23.2')).toBe('0.23.2');
    expect(parseVersion('bpftrace v0.17.0\n')).toBe('0.17.0');
    expect(parseVersion('bpftrace v0.21.0-rc1')).toBe('0.21.0');
    expect(parseVersion('bpftrace 0.20.2')).toBe('0.20.2');
    expect(parseVersion('bpftrace')).toBeUndefined();
  });

  test("bookworm's 0.17 keeps the cgroup_mkdir tracepoint and the environment variables", () => {
    expect(dialectFor('bpftrace v0.17.0')).toEqual({
      series: '0.17',
      cgroupMkdir: 'tracepoint',
      syscalls: 'tracepoint',
      settings: 'env',
      maxStrlen: 200,
      strLength: 'chars',
    });
  });

  test("trixie's 0.23 (the agent image's) arms from the raw tracepoint, probes syscalls by raw tracepoints, takes a config block", () => {
    // Its tracepoint reads args->path from the wrong offset (fixed in 0.24.0).
    for (const v of ['bpftrace v0.23.0', 'bpftrace v0.23.2', 'bpftrace v0.23.5']) {
      expect(dialectFor(v)).toEqual({
        series: '0.23',
        cgroupMkdir: 'rawtracepoint',
        syscalls: 'rawtracepoint',
        settings: 'config',
        maxStrlen: 512,
        strLength: 'bytes',
      });
    }
  });

  test.each([
    ['bpftrace v0.14.1', 'bpftrace v0.14.1'],
    ['bpftrace v0.20.2', 'bpftrace v0.20.2'],
    ['bpftrace v0.24.0', 'bpftrace v0.24.0'],
    ['bpftrace v1.0.0', 'bpftrace v1.0.0'],
    ['something else', 'bpftrace of unknown version ("something else")'],
  ])('%s is refused with a reason naming it and what is supported', (text, named) => {
    const d = dialectFor(text);
    expect(d).toBeInstanceOf(BpftraceError);
    const e = d as BpftraceError;
    expect(e.reason).toBe('UnsupportedVersion');
    expect(e.message).toBe(
      `${named} is not supported: the agent's programs are tested with bpftrace 0.17.x and 0.23.x; run the agent image of this release, whose bpftrace is supported`,
    );
  });

  test("kernel BTF is found in both versions' --info layouts", () => {
    expect(btfProblem(info('0.17'))).toBeUndefined();
    expect(btfProblem(info('0.23'))).toBeUndefined();
  });

  test('a kernel without BTF is refused, even if module BTF is reported', () => {
    const without = info('0.23').replace(/(\s{2})btf: yes/, '$1btf: no ');
    expect(without).toContain('module btf: yes');
    const e = btfProblem(without);
    expect(e?.reason).toBe('NoKernelBTF');
    expect(e?.message).toMatch(/^bpftrace finds no kernel BTF/);
    expect(btfProblem(info('0.17').replace('btf: yes', 'btf: no'))?.reason).toBe('NoKernelBTF');
  });

  test('the place of the user registers is taken only as bpftrace printed a plausible one', () => {
    // As 0.23.2 printed it on Linux 6.18 (16 KiB stacks, 168-byte pt_regs, no FRED padding).
    expect(parseUserRegs('Attaching 1 probe...\nharden:regs 16216\n\n\n')).toBe(16216);
    expect(parseUserRegs('harden:regs 32744\n')).toBe(32744);
    for (const bad of [
      '',
      'Attaching 1 probe...\n',
      'harden:regs 0\n',
      'harden:regs 16217\n',
      'harden:regs -8\n',
      `harden:regs ${1 << 21}\n`,
    ])
      expect(parseUserRegs(bad)).toBeUndefined();
  });
});
