// Issue 21.4, on the real node: with the capabilities probe made unavailable to the agent (the
// documented deny-list, set on the DaemonSet as an operator would), a securitycontext session is
// refused with a condition naming the node, its kernel and the probe, while a seccomp session on
// the same pod records as before; then, without the deny-list, the normal route again: the same
// advice as from the agent before the deny-list, and what the golden holds.
import { readFileSync } from 'node:fs';
import { harden } from '../support/cluster';
import { kubectl, kubectlJson } from '../support/exec';
import { AGENT_NAMESPACE, agentPod } from '../support/agent-pod';
import { GOLDEN_DIR } from '../unit/golden';
import {
  NGINX,
  NS,
  fromClient,
  ok,
  podOf,
  secctxHooks,
  traceAndAdvise,
  type Advice,
} from '../support/secctx';

secctxHooks();

const PROBE = 'tracepoint:capability:cap_capable';
// The kprobe routes' probes too: on a kernel with kprobes (users' nodes, CI runners) they would serve.
const DENIED = [PROBE, 'kprobe:cap_capable', 'kretprobe:cap_capable'];
const KERNEL = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();

interface NodeStatus {
  node: string;
  kernel: string;
  serves: { type: string; route: string }[];
  refuses: { type: string; reason: string; message: string }[];
}

/** Sets (or with `undefined`, removes) the deny-list on the DaemonSet; waits for the new agent pod. */
async function denyProbes(list: string | undefined): Promise<void> {
  const before = await agentPod();
  const env = list === undefined ? 'HARDEN_AGENT_DENY_PROBES-' : `HARDEN_AGENT_DENY_PROBES=${list}`;
  await kubectl(['-n', AGENT_NAMESPACE, 'set', 'env', 'daemonset/harden-agent', env]);
  await kubectl(['-n', AGENT_NAMESPACE, 'rollout', 'status', 'daemonset/harden-agent', '--timeout=180s']);
  const after = await agentPod();
  expect(after.metadata.name).not.toBe(before.metadata.name);
}

async function nodeStatus(): Promise<NodeStatus> {
  const { nodes } = JSON.parse(await ok(['status', '-o', 'json'])) as { nodes: NodeStatus[] };
  expect(nodes).toHaveLength(1);
  return nodes[0];
}

afterAll(async () => {
  // Whatever happened above, the next file finds the agent as deploy makes it.
  await kubectl(['-n', AGENT_NAMESPACE, 'set', 'env', 'daemonset/harden-agent', 'HARDEN_AGENT_DENY_PROBES-']);
});

describe('a kind of session the kernel cannot serve, on the real node', () => {
  /** nginx's advice from the agent as deployed, before any deny-list. */
  let before: Advice;

  test('deny-listed: securitycontext refused, naming node, kernel and probe; seccomp on the same pod records', async () => {
    ({ advice: before } = await traceAndAdvise(NGINX));
    await denyProbes(DENIED.join(','));
    const status = await nodeStatus();
    expect(status.kernel).toBe(KERNEL);
    expect(status.serves.map((s) => s.type)).toEqual(['seccomp', 'network']);
    expect(status.refuses).toEqual([
      {
        type: 'capabilities',
        reason: 'KernelUnsupported',
        message: expect.stringContaining(
          `node "${status.node}" (Linux ${KERNEL}, amd64) cannot record capabilities sessions: its tracepoint route needs ${PROBE} (deny-listed by HARDEN_AGENT_DENY_PROBES); its kprobe route needs kprobe:cap_capable (`,
        ),
      },
    ]);
    const [refusal] = status.refuses;
    expect(refusal.message).toContain('its kprobe-cap2 route needs');

    const pod = await podOf(NGINX);
    const t0 = Date.now();
    const refused = await harden(['sc', 'start', '-n', NS, '-p', pod.metadata.name]);
    process.stderr.write(`sc start refused after ${Date.now() - t0} ms:\n${refused.stderr}\n`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`node "${status.node}"`);
    expect(refused.stderr).toContain(`Linux ${KERNEL}`);
    expect(refused.stderr).toContain(PROBE);
    // Nothing left behind: start removes a session that never traced.
    const left = await kubectlJson<{ items: { spec: { type: string } }[] }>([
      '-n',
      NS,
      'get',
      'tracesessions',
    ]);
    expect(left.items.filter((s) => s.spec.type === 'capabilities')).toEqual([]);

    const id = (await ok(['seccomp', 'start', '-n', NS, '-p', pod.metadata.name])).trim();
    for (let i = 0; i < 3; i++) await fromClient(NGINX.exercise, pod.status.podIP ?? '');
    const profile = JSON.parse(await ok(['seccomp', 'stop', id, '-n', NS])) as {
      syscalls: { names: string[] }[];
    };
    // nginx answering HTTP: accepting, reading and writing on its sockets.
    expect(profile.syscalls[0].names).toEqual(expect.arrayContaining(['accept4', 'epoll_wait']));
  });

  test('the deny-list removed: the agent restarts, probes again, serves securitycontext; the advice is as before, and as the golden', async () => {
    await denyProbes(undefined);
    const status = await nodeStatus();
    expect(status.serves).toEqual([
      { type: 'seccomp', route: 'tracepoint' },
      { type: 'network', route: 'tracepoint' },
      { type: 'capabilities', route: 'tracepoint' },
    ]);
    expect(status.refuses).toEqual([]);
    const { advice } = await traceAndAdvise(NGINX);
    expect(advice.containers.map((c) => c.securityContext)).toEqual(
      before.containers.map((c) => c.securityContext),
    );
    expect(advice.podSecurityStandard).toEqual(before.podSecurityStandard);
    // The golden is advice from records shaped after this nginx; the live one as root also chowns
    // its cache directories at start, so CHOWN comes on top of the golden's capabilities.
    const golden = JSON.parse(
      readFileSync(`${GOLDEN_DIR}/securitycontext/nginx-root.advice.json`, 'utf8'),
    ) as { containers: Advice['containers']; pss: { level: string } };
    const { capabilities: caps, ...rest } = advice.containers[0].securityContext;
    const { capabilities: goldenCaps, ...goldenRest } = golden.containers[0].securityContext;
    expect(rest).toEqual(goldenRest);
    expect(caps?.drop).toEqual(goldenCaps?.drop);
    expect(caps?.add?.filter((c) => c !== 'CHOWN')).toEqual(goldenCaps?.add);
    expect(advice.podSecurityStandard.level).toBe(golden.pss.level);
  });
});
