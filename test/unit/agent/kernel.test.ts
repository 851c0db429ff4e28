// What the agent learns of the node's kernel at start: probes by tracefs, kprobes by the kprobe PMU,
// struct layouts by BTF (a small BTF blob written here, laid out as the kernel's), and the
// deny-list. Then which route each recorder gets, and what the node reports.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf } from '../../../lib/agent/core/btf';
import { DIALECTS, fentryOf } from '../../../lib/agent/core/dialect';
import { BpftraceError } from '../../../lib/agent/core/bpftrace-error';
import { parseDenyList, probeKernel, type KernelSources } from '../../../lib/agent/core/kernel';
import { nodeReport } from '../../../lib/agent/core/node-report';
import { chooseRoutes, kernelNeeds } from '../../../lib/agent/core/support';
import { RECORDERS } from '../../../lib/agent/recorders';

/** A BTF blob as the kernel lays it out; `types` gets the string interner and returns each type's u32 words. */
function btfBlob(types: (str: (s: string) => number) => number[][]): Buffer {
  let strings = '\0';
  const str = (s: string) => {
    const at = strings.length;
    strings += `${s}\0`;
    return at;
  };
  const words = types(str).flat();
  const typeSec = Buffer.alloc(words.length * 4);
  words.forEach((w, i) => typeSec.writeUInt32LE(w, i * 4));
  const strSec = Buffer.from(strings, 'latin1');
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr.writeUInt8(1, 2);
  hdr.writeUInt32LE(24, 4); // header length; type section at 0, strings after it
  hdr.writeUInt32LE(typeSec.length, 12);
  hdr.writeUInt32LE(typeSec.length, 16);
  hdr.writeUInt32LE(strSec.length, 20);
  return Buffer.concat([hdr, typeSec, strSec]);
}

const info = (kind: number, vlen = 0) => ((kind << 24) | vlen) >>> 0;

/** Ids from 1: [name, info, size or type, kind-specific words…]. */
const kernelBtf = () =>
  btfBlob((s) => [
    [s('long long unsigned int'), info(1), 8, 64], // 1: INT u64
    [0, info(4, 1), 8, s('val'), 1, 0], // 2: STRUCT { u64 val; }
    [s('kernel_cap_t'), info(8), 2], // 3: TYPEDEF kernel_cap_t → 2 (Linux 6.3 on)
    [0, info(13, 1), 1, 0, 1], // 4: FUNC_PROTO with one parameter
    [s('cap_capable'), info(12, 1), 4], // 5: FUNC cap_capable
    [s('kernel_cap_struct'), info(7), 0], // 6: FWD
    [0, info(3), 0, 1, 1, 2], // 7: ARRAY u64[2]
    [s('old_cap_struct'), info(4, 1), 8, s('cap'), 7, 0], // 8: STRUCT { cap[2]; }
  ]);

describe('BTF', () => {
  const b = new Btf(kernelBtf());

  test('a typedef of an anonymous struct, a named struct behind a forward declaration, a function', () => {
    expect(b.members('kernel_cap_t')).toEqual(['val']);
    expect(b.members('struct old_cap_struct')).toEqual(['cap']);
    expect(b.members('kernel_cap_struct')).toBeUndefined();
    expect(b.members('no_such_type')).toBeUndefined();
    expect(b.hasFunction('cap_capable')).toBe(true);
    expect(b.hasFunction('kernel_cap_t')).toBe(false);
  });

  test('not BTF is an error', () => {
    expect(() => new Btf(Buffer.from('ELF'))).toThrow(/not BTF/);
  });
});

describe('the kernel probe', () => {
  let dir: string;
  let src: KernelSources;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'harden-kernel-'));
    for (const tp of ['capability/cap_capable', 'cgroup/cgroup_mkdir', 'syscalls/sys_enter_openat']) {
      mkdirSync(join(dir, 'tracing', 'events', tp), { recursive: true });
    }
    writeFileSync(join(dir, 'vmlinux'), kernelBtf());
    writeFileSync(join(dir, 'kallsyms'), 'ffffffff81000000 T cap_capable\nffffffff81000010 t helper\n');
    src = {
      release: '6.18.0-test',
      tracefs: [join(dir, 'missing'), join(dir, 'tracing')],
      btf: join(dir, 'vmlinux'),
      kprobePmu: join(dir, 'kprobe'),
      kallsyms: join(dir, 'kallsyms'),
      fentry: false,
      deny: [],
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const probes = [
    'tracepoint:capability:cap_capable',
    'tracepoint:sock:inet_sock_set_state',
    'rawtracepoint:cgroup_mkdir',
    'kprobe:cap_capable',
    'fentry:cap_capable',
    'interval:ms:1000',
  ];
  const members = [
    { type: 'kernel_cap_t', member: 'val' },
    { type: 'kernel_cap_t', member: 'cap' },
  ];

  test('this machine: tracepoints by tracefs, no kprobes (no kprobe PMU), no fentry; struct layouts by BTF', () => {
    const k = probeKernel(src, probes, members);
    expect(k).toEqual({
      release: '6.18.0-test',
      btf: true,
      missing: {
        'tracepoint:capability:cap_capable': undefined,
        'tracepoint:sock:inet_sock_set_state': 'the kernel has no tracepoint sock:inet_sock_set_state',
        'rawtracepoint:cgroup_mkdir': undefined,
        'kprobe:cap_capable': `the kernel has no kprobes (no ${join(dir, 'kprobe')})`,
        'fentry:cap_capable': 'the kernel has no fentry (bpftrace --info)',
        'interval:ms:1000': undefined,
      },
      members: { 'kernel_cap_t.val': true, 'kernel_cap_t.cap': false },
    });
  });

  test('kprobes where the PMU is: a function the kernel lists (its symbol table, when ftrace will not say) or not', () => {
    mkdirSync(join(dir, 'kprobe'));
    const k = probeKernel(
      { ...src, fentry: true },
      ['kprobe:cap_capable', 'kretprobe:nope', 'fentry:nope'],
      [],
    );
    expect(k.missing).toEqual({
      'kprobe:cap_capable': undefined,
      'kretprobe:nope': 'the kernel cannot kprobe nope (not a traceable function)',
      'fentry:nope': 'BTF has no function nope',
    });
  });

  test('the deny-list makes a probe absent, saying so; no tracefs and no BTF are said too', () => {
    const deny = parseDenyList(' tracepoint:capability:cap_capable , kprobe:cap_capable,');
    expect(deny).toEqual(['tracepoint:capability:cap_capable', 'kprobe:cap_capable']);
    expect(probeKernel({ ...src, deny }, ['tracepoint:capability:cap_capable'], []).missing).toEqual({
      'tracepoint:capability:cap_capable': 'deny-listed by HARDEN_AGENT_DENY_PROBES',
    });
    const bare = probeKernel(
      { ...src, tracefs: [join(dir, 'missing')], btf: join(dir, 'nope') },
      probes,
      members,
    );
    expect(bare.btf).toBe(false);
    expect(bare.members).toEqual({});
    expect(bare.missing['tracepoint:capability:cap_capable']).toMatch(/^no tracefs with an events directory/);
  });

  test("bpftrace's own fentry test, as 0.17 (kfunc) and 0.23 print it", () => {
    expect(fentryOf('Probe types\n  kprobe: yes\n  kfunc: no\n')).toBe(false);
    expect(fentryOf('  kprobe: yes                      tracepoint: yes\n  fentry: yes  ')).toBe(true);
    expect(fentryOf('nothing')).toBeUndefined();
  });
});

describe('routes and the node report', () => {
  const node = { node: 'n1', arch: 'amd64', dialect: DIALECTS[1] };
  const all = { release: '6.18.0', btf: true, missing: {}, members: {} };

  test("the recorders' needs are read from their parts: each capabilities route's probes and kernel_cap_t's members", () => {
    const needs = kernelNeeds(RECORDERS, node);
    expect([...needs.probes]).toEqual(
      expect.arrayContaining([
        // 0.23 (the node's dialect here) probes every syscall by the raw tracepoints.
        'rawtracepoint:sys_enter',
        'rawtracepoint:sys_exit',
        'tracepoint:sock:inet_sock_set_state',
        'tracepoint:capability:cap_capable',
        'kprobe:cap_capable',
        'kretprobe:cap_capable',
        'tracepoint:syscalls:sys_enter_openat',
      ]),
    );
    expect(needs.members).toEqual([
      { type: 'kernel_cap_t', member: 'val' },
      { type: 'kernel_cap_t', member: 'val' },
      { type: 'kernel_cap_t', member: 'cap' },
    ]);
    // arm64 has no legacy path calls: they are not asked about.
    expect([...kernelNeeds(RECORDERS, { ...node, arch: 'arm64' }).probes]).not.toContain(
      'tracepoint:syscalls:sys_enter_open',
    );
  });

  test('a kernel with everything serves every kind by its first route', () => {
    const support = chooseRoutes(RECORDERS, all, node);
    expect([...support.values()].map((s) => [s.recorder.type, s.route?.name])).toEqual([
      ['seccomp', 'tracepoint'],
      ['network', 'tracepoint'],
      ['capabilities', 'tracepoint'],
    ]);
  });

  const noTracepoint = {
    'tracepoint:capability:cap_capable': 'the kernel has no tracepoint capability:cap_capable',
  };
  const noKprobes = {
    'kprobe:cap_capable': 'the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)',
    'kretprobe:cap_capable': 'the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)',
  };
  // As the kernels users' nodes run report themselves (Debian's, booted by the kernel matrix).
  test.each([
    [
      '6.18 (tracepoint, u64 sets)',
      '6.18.0',
      {},
      { 'kernel_cap_t.val': true, 'kernel_cap_t.cap': false },
      'tracepoint',
    ],
    [
      '6.12 (no tracepoint)',
      '6.12.118',
      noTracepoint,
      { 'kernel_cap_t.val': true, 'kernel_cap_t.cap': false },
      'kprobe',
    ],
    [
      '6.1 (no tracepoint, cap[2] sets)',
      '6.1.0',
      noTracepoint,
      { 'kernel_cap_t.val': false, 'kernel_cap_t.cap': true },
      'kprobe-cap2',
    ],
    [
      '5.10 (as 6.1)',
      '5.10.0',
      noTracepoint,
      { 'kernel_cap_t.val': false, 'kernel_cap_t.cap': true },
      'kprobe-cap2',
    ],
  ])(
    'Linux %s: capabilities by the first route the kernel serves',
    (_what, release, missing, members, route) => {
      const kernel = { ...all, release, missing, members };
      const support = chooseRoutes(RECORDERS, kernel, node);
      expect(support.get('capabilities')?.route?.name).toBe(route);
      expect(support.get('seccomp')?.route?.name).toBe('tracepoint');
    },
  );

  test('no route served (no tracepoint, kprobes compiled out): capabilities refused, naming what each route lacks', () => {
    const kernel = {
      ...all,
      release: '6.12.0',
      missing: { ...noTracepoint, ...noKprobes },
      members: { 'kernel_cap_t.val': true, 'kernel_cap_t.cap': false },
    };
    const support = chooseRoutes(RECORDERS, kernel, node);
    const refused = support.get('capabilities');
    expect(refused).toMatchObject({ reason: 'KernelUnsupported' });
    expect(refused?.route ? '' : refused?.message).toBe(
      'node "n1" (Linux 6.12.0, amd64) cannot record capabilities sessions: ' +
        'its tracepoint route needs tracepoint:capability:cap_capable (the kernel has no tracepoint capability:cap_capable); ' +
        'its kprobe route needs kprobe:cap_capable (the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)), kretprobe:cap_capable (the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)); ' +
        "its kprobe-cap2 route needs kprobe:cap_capable (the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)), kretprobe:cap_capable (the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)), kernel_cap_t.cap (not in the kernel's BTF)",
    );
    expect(support.get('network')?.route?.name).toBe('tracepoint');
  });

  test('the report: served kinds with their routes, refused ones with why; an unusable bpftrace serves none', () => {
    const kernel = { ...all, missing: { ...noTracepoint, ...noKprobes } };
    const support = chooseRoutes(RECORDERS, kernel, node);
    const facts = { node: 'n1', arch: 'amd64', agentVersion: '0.1.0' };
    const bpftrace = { binary: 'bpftrace', version: 'bpftrace v0.23.2', dialect: DIALECTS[1] };
    const report = nodeReport(facts, kernel, bpftrace, support);
    expect(report).toMatchObject({
      node: 'n1',
      kernel: '6.18.0',
      btf: true,
      serves: [
        { type: 'seccomp', route: 'tracepoint' },
        { type: 'network', route: 'tracepoint' },
      ],
      refuses: [{ type: 'capabilities', reason: 'KernelUnsupported' }],
    });
    const problem = new BpftraceError('bpftrace finds no kernel BTF', '', 'NoKernelBTF');
    const none = nodeReport(facts, { ...kernel, btf: false }, { ...bpftrace, problem }, support);
    expect(none.serves).toEqual([]);
    expect(none.refuses.map((r) => `${r.type} ${r.reason}`)).toEqual([
      'seccomp NoKernelBTF',
      'network NoKernelBTF',
      'capabilities NoKernelBTF',
    ]);
  });
});
