// Issue 21.1: a kind of session the node cannot serve is refused for its own sessions on that node
// alone, with a condition naming the node, its kernel and what is missing; the other sessions on
// the node record as before, and the node's program holds only parts its kernel serves. And issue
// 22.4: a node's refusal is its own entry's, the session's phase is derived from every node's.
jest.setTimeout(30_000);

import { refusalMessage } from '../../../lib/session/phase';
import { BpftraceError } from '../../../lib/agent/core/bpftrace-error';
import type { KernelFacts } from '../../../lib/agent/core/kernel';
import type { TraceSession } from '../../../lib/session/types';
import {
  entryOf,
  EVERY_PROBE,
  makeWorld,
  NODE,
  runningPod,
  session,
  soon,
  startTracing,
  type World,
  phaseOf,
} from './fake-world';

let w: World;
afterEach(() => w?.close());

const CAP_TRACEPOINT = 'tracepoint:capability:cap_capable';
/**
 * A kernel without the capabilities tracepoint (below 6.14; here made so by the deny-list) and with
 * kprobes compiled out, as this machine's.
 */
const NO_CAP_TRACEPOINT: KernelFacts = {
  ...EVERY_PROBE,
  release: '6.1.0-test',
  missing: {
    [CAP_TRACEPOINT]: 'deny-listed by HARDEN_AGENT_DENY_PROBES',
    'kprobe:cap_capable': 'the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe)',
  },
};

const capabilities = (name: string, target: TraceSession['spec']['target']): TraceSession => {
  const s = session(name, target);
  return { ...s, spec: { ...s.spec, type: 'capabilities' } };
};

const accepted = (name: string) => entryOf(w, name)?.conditions?.find((c) => c.type === 'Accepted');

test('capabilities on a kernel without its probe: refused for that session on this node; seccomp on the same pod records', async () => {
  w = makeWorld({ kernel: NO_CAP_TRACEPOINT });
  w.setSyscalls([0, 1]);
  const pod = runningPod(w, 'web');
  await w.fake.putPod(pod);
  await w.fake.putSession(session('sc', { podName: 'web' }));
  await w.fake.putSession(capabilities('cap', { podName: 'web' }));
  await startTracing(w, 'sc');
  await soon(
    'the seccomp session recording',
    () => entryOf(w, 'sc'),
    (n) => n?.containers[0]?.syscalls?.join() === '0,1',
  );
  await soon(
    'the refusal',
    () => accepted('cap'),
    (c) => c !== undefined,
  );
  expect(accepted('cap')).toMatchObject({ status: 'False', reason: 'KernelUnsupported' });
  const message = accepted('cap')?.message ?? '';
  expect(message).toContain(`node "${NODE}"`);
  expect(message).toContain('Linux 6.1.0-test');
  expect(message).toContain(`${CAP_TRACEPOINT} (deny-listed by HARDEN_AGENT_DENY_PROBES)`);
  expect(entryOf(w, 'cap')).toMatchObject({ phase: 'Failed', final: true, containers: [] });
  // A pod session's pod runs on one node: refused there, it fails, and says why.
  expect(phaseOf(w.fake.session('cap'))).toBe('Failed');
  expect(refusalMessage(w.fake.session('cap') ?? {})).toBe(message);
  expect(phaseOf(w.fake.session('sc'))).toBe('Tracing');
  expect(w.runs().some((r) => r.probes.includes(CAP_TRACEPOINT))).toBe(false);
  expect(w.runs().every((r) => r.probes.includes('tracepoint:raw_syscalls:sys_enter'))).toBe(true);
});

test('an open session of a kind this node cannot serve is refused here, yet not failed: another node may serve it', async () => {
  w = makeWorld({ arch: 's390x' });
  await w.fake.putSession(capabilities('cap', { selector: { matchLabels: { app: 'web' } } }));
  await w.controller.start();
  await soon(
    'the refusal',
    () => accepted('cap'),
    (c) => c !== undefined,
  );
  expect(accepted('cap')).toMatchObject({ status: 'False', reason: 'UnsupportedArchitecture' });
  expect(accepted('cap')?.message).toMatch(/s390x\).*amd64 or arm64 node/);
  expect(phaseOf(w.fake.session('cap'))).toBe('Pending');
  // Another node traces it: whichever agent writes last, the phase is derived from both entries.
  await w.fake.otherNodeWrites('cap');
  await soon(
    'the session tracing on node-2',
    () => phaseOf(w.fake.session('cap')),
    (p) => p === 'Tracing',
  );
  expect(entryOf(w, 'cap')?.phase).toBe('Failed');
  // No program at all: nothing else runs on this node, and the refused kind is in none.
  expect(w.runs()).toEqual([]);
});

test('a pod session of a kind this node cannot serve, with its pod on another node, is not this node to refuse', async () => {
  w = makeWorld({ kernel: NO_CAP_TRACEPOINT });
  const pod = runningPod(w, 'web');
  await w.fake.putPod(pod);
  await w.fake.putSession(session('sc', { podName: 'web' }));
  await w.fake.putSession(capabilities('cap', { podName: 'runs-elsewhere' }));
  await startTracing(w, 'sc');
  await w.controller.flush();
  expect(entryOf(w, 'cap')).toBeUndefined();
  expect(w.fake.session('cap')?.status).toBeUndefined();
});

test('an agent restarted on a kernel that serves the kind traces the session it refused before', async () => {
  w = makeWorld({ kernel: NO_CAP_TRACEPOINT });
  const pod = runningPod(w, 'web');
  await w.fake.putPod(pod);
  await w.fake.putSession(capabilities('cap', { selector: { matchLabels: { app: 'web' } } }));
  await w.controller.start();
  await soon(
    'the refusal',
    () => accepted('cap'),
    (c) => c?.status === 'False',
  );
  await w.restart({ kernel: EVERY_PROBE });
  await soon(
    'the session traced',
    () => entryOf(w, 'cap'),
    (n) => n?.phase === 'Tracing' && n.final === false,
  );
  expect(accepted('cap')).toBeUndefined();
  expect(phaseOf(w.fake.session('cap'))).toBe('Tracing');
  expect(w.runs().some((r) => r.probes.includes(CAP_TRACEPOINT))).toBe(true);
});

test('a target outside the session namespace is refused for the whole session, every node alike', async () => {
  w = makeWorld();
  await w.fake.putSession(session('sc', { namespace: 'other', podName: 'web' }));
  await w.controller.start();
  await soon(
    'the refusal',
    () => w.fake.session('sc')?.status,
    (s) => s?.phase === 'Failed',
  );
  expect(w.fake.session('sc')?.status?.conditions).toEqual([
    expect.objectContaining({ type: 'Accepted', status: 'False', reason: 'TargetOutsideNamespace' }),
  ]);
  expect(entryOf(w, 'sc')).toBeUndefined();
});

test('a kernel without BTF: no kind is refused for it, every session says bpftrace cannot run (NoKernelBTF)', async () => {
  const noBtf = new BpftraceError('bpftrace finds no kernel BTF', '', 'NoKernelBTF');
  // Without BTF the probe cannot tell struct layouts: members unknown, not missing.
  w = makeWorld({ kernel: { ...EVERY_PROBE, btf: false }, bpftraceProblem: noBtf });
  await w.fake.putPod(runningPod(w, 'web'));
  await w.fake.putSession(capabilities('cap', { podName: 'web' }));
  await w.controller.start();
  const ready = await soon(
    'the condition',
    () => entryOf(w, 'cap')?.conditions?.find((c) => c.type === 'BpftraceReady'),
    (c) => c !== undefined,
  );
  expect(ready).toMatchObject({ status: 'False', reason: 'NoKernelBTF' });
  expect(accepted('cap')).toBeUndefined();
  expect(phaseOf(w.fake.session('cap'))).toBe('Pending');
  expect(w.runs()).toEqual([]);
});
