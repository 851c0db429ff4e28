// Issue 21.4, on the real node: with the capabilities probe made unavailable to the agent (the
// documented deny-list, set on the DaemonSet as an operator would), a securitycontext session is
// refused with a condition naming the node, its kernel and the probe, while a seccomp session on
// the same pod records as before; then, without the deny-list, the normal route again: the same
// advice as from the agent before the deny-list, and what the golden holds. While deny-listed,
// `record` goes on with the other recorders and `apply` still puts the seccomp profile in force.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { harden, recordExercised } from '../support/cluster';
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

  test('deny-listed: record goes on without the capabilities recorder, apply puts the seccomp profile in force, --undo restores', async () => {
    const { node } = await nodeStatus();
    const dir = join(mkdtempSync(join(tmpdir(), 'harden-isolation-')), 'rec');
    // nginx answers the client while recorded, so its NetworkPolicy lets the client in.
    const rec = await recordExercised(
      [
        ...['-n', NS, '-l', `app=${NGINX.name}`, '--restart', '--duration', '10s'],
        ...['--output-dir', dir, '-o', 'json', '--accept-gaps'],
      ],
      async () => {
        const ip = (await podOf(NGINX)).status.podIP ?? '';
        for (let i = 0; i < 3; i++) await fromClient(NGINX.probe, ip);
      },
    );
    process.stderr.write(`record with capabilities refused:\n${rec.stderr}${rec.stdout}\n`);
    expect(rec.code ? rec.stderr : '').toBe('');
    expect(rec.stderr).toContain(
      'warning: no node can record capabilities sessions, so the recording goes on without them',
    );
    expect(rec.stderr).toContain(
      `node "${node}" (Linux ${KERNEL}, amd64) cannot record capabilities sessions`,
    );
    const rows = JSON.parse(rec.stdout) as {
      workload: string;
      startupRecorded: boolean;
      syscalls: number;
      peers: number;
      pss: string;
      gaps: number;
      notRecorded?: { recorder: string; reason: string }[];
    }[];
    expect(rows).toEqual([
      {
        workload: `deployment/${NGINX.name}`,
        startupRecorded: true,
        syscalls: expect.any(Number),
        peers: expect.any(Number),
        pss: 'not recorded',
        gaps: 0,
        notRecorded: [{ recorder: 'capabilities', reason: `KernelUnsupported, e.g. on node ${node}` }],
      },
    ]);
    expect(rows[0].syscalls).toBeGreaterThan(50);
    expect(rows[0].peers).toBeGreaterThan(0);
    const localhostProfile = `harden/${NS}/deployment-${NGINX.name}.json`;
    const sc = load(readFileSync(join(dir, `deployment-${NGINX.name}.securitycontext.yaml`), 'utf8')) as {
      patch: { spec: { template: { spec: { containers: object[] } } } };
    };
    expect(sc.patch.spec.template.spec.containers).toEqual([
      // The test pods' one container is `main`.
      { name: 'main', securityContext: { seccompProfile: { type: 'Localhost', localhostProfile } } },
    ]);

    try {
      const applied = await harden(['apply', '-f', dir, '-n', NS]);
      process.stderr.write(`apply:\n${applied.stderr}${applied.stdout}\n`);
      expect(applied.code ? applied.stderr : '').toBe('');
      expect(applied.stdout).toBe(`deployment/${NGINX.name} hardened\n`);
      expect(applied.stderr).toContain(
        `deployment/${NGINX.name}: no securityContext advice beyond its seccomp profiles, as the capabilities recorder recorded none of its pods`,
      );
      // kubelet runs nginx under the recorded profile, and it serves.
      const pod = await podOf(NGINX);
      expect(pod.spec.containers[0].securityContext).toEqual({
        seccompProfile: { type: 'Localhost', localhostProfile },
      });
      for (let i = 0; i < 3; i++) await fromClient(NGINX.probe, pod.status.podIP ?? '');
    } finally {
      // Undone whatever happened above: the files after this one find nginx as it was.
      const undone = await harden(['apply', '--undo', '-f', dir, '-n', NS]);
      expect(undone.code ? undone.stderr : '').toBe('');
    }
    expect((await podOf(NGINX)).spec.containers[0].securityContext).toBeUndefined();
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
