// `kubectl harden record` through the real parser against the in-memory API server: an agent played
// by a hook serves the three sessions of a recording; the command writes each workload's files.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import type { Flow } from '../../../lib/agent/recorders/network/types';
import type { Pod } from '../../../lib/kube/objects';
import { R, resourcePath } from '../../../lib/kube/paths';
import { AGENT_LABELS, AGENT_NAMESPACE } from '../../../lib/session/agent-names';
import type { Gap, NodeRecord, TraceSession } from '../../../lib/session/types';
import { InstallController } from '../../../lib/agent/installs/controller';
import { ProfileStore } from '../../../lib/agent/installs/store';
import { agentEntry, clusterWithAgent, FakeInterrupts, runCli, type FakeCluster } from '../fake-cluster';
import * as f from '../securitycontext/fixtures';

const POD = 'nginx-7c9f-abcde';

const flow: Flow = {
  pod: POD,
  direction: 'egress',
  proto: 'TCP',
  localIP: '10.244.0.9',
  localPort: 0,
  remoteIP: '93.184.216.34',
  remotePort: 443,
  count: 2,
  firstSeen: '2025-01-01T00:00:00Z',
  lastSeen: '2025-01-01T00:00:01Z',
};

interface Play {
  syscalls?: number[];
  fromStart?: boolean;
  gaps?: Gap[];
  /** Called when a session of this type is created. */
  created?: (s: TraceSession) => void;
  /** Nodes whose agent refuses a kind of session (node-1 refusing it: no node serves it). */
  refuse?: { type: string; node: string }[];
}

/** A node's refusal of a kind of session, as the agent writes it. */
const refusalEntry = (type: string, node: string): NodeRecord =>
  agentEntry(true, {
    node,
    phase: 'Failed',
    conditions: [
      {
        type: 'Accepted',
        status: 'False',
        reason: 'KernelUnsupported',
        message: `node "${node}" (Linux 5.10.0, amd64) cannot record ${type} sessions: no route`,
        lastTransitionTime: '2025-01-01T00:00:00Z',
      },
    ],
  });

/** What the agent on node-1 records for each kind of session: nginx's syscalls, privileges, one connection. */
function entry(type: string, final: boolean, play: Play): NodeRecord {
  const who = {
    pod: POD,
    podUID: 'uid-1',
    workload: 'nginx',
    container: 'nginx',
    containerID: 'containerd://1111',
  };
  const gaps = play.gaps ? { gaps: play.gaps } : {};
  if (type === 'seccomp')
    return agentEntry(final, {
      ...gaps,
      containers: [
        {
          ...who,
          recordedFromStart: play.fromStart ?? true,
          filterSeen: true,
          syscalls: play.syscalls ?? [0, 1, 59, 231],
        } as never,
      ],
    });
  if (type === 'capabilities')
    return agentEntry(final, {
      privileges: [{ ...f.nginxRoot, ...who, recordedFromStart: play.fromStart ?? true }],
    });
  return agentEntry(final, { flows: [flow] });
}

function playAgent(c: FakeCluster, play: Play = {}) {
  const nodes = (type: string, final: boolean) => {
    const refusing = (play.refuse ?? []).filter((r) => r.type === type).map((r) => r.node);
    return [
      ...(refusing.includes('node-1') ? [] : [entry(type, final, play)]),
      ...refusing.map((node) => refusalEntry(type, node)),
    ];
  };
  c.hook = (method, _path, obj) => {
    const s = obj as unknown as TraceSession | undefined;
    if (!s || s.kind !== 'TraceSession') return;
    if (method === 'POST') {
      play.created?.(s);
      s.status = { phase: 'Tracing', nodes: nodes(s.spec.type, false) };
    }
    if (method === 'PATCH' && s.spec.state === 'Stopped' && s.status?.phase === 'Tracing')
      s.status = { phase: 'Completed', nodes: nodes(s.spec.type, true) };
  };
}

/** The Deployment nginx (app=nginx) with one running pod on node-1, rolled out. */
function withNginx(c: FakeCluster, over: { replicas?: number; status?: object } = {}) {
  const replicas = over.replicas ?? 1;
  c.put(R.deployments, {
    metadata: { name: 'nginx', namespace: 'web', generation: 1 },
    spec: { replicas, template: { metadata: { labels: { app: 'nginx' } }, spec: f.nginxRootSpec } },
    status: over.status ?? {
      observedGeneration: 1,
      replicas,
      updatedReplicas: replicas,
      availableReplicas: replicas,
    },
  } as never);
  if (replicas) c.put(R.pods, nginxPod(POD, 'uid-1'));
}

/** A running, Ready pod of nginx's ReplicaSet on node-1. */
const nginxPod = (name: string, uid: string): Pod => ({
  metadata: {
    name,
    namespace: 'web',
    uid,
    labels: { app: 'nginx', 'pod-template-hash': '7c9f' },
    ownerReferences: [{ kind: 'ReplicaSet', name: 'nginx-7c9f', controller: true }],
  },
  spec: { nodeName: 'node-1', ...f.nginxRootSpec },
  status: { phase: 'Running', podIP: '10.244.0.9', conditions: [{ type: 'Ready', status: 'True' }] },
});

const tmpDir = () => join(mkdtempSync(join(tmpdir(), 'harden-record-')), 'out');
const RECORD = ['record', '-n', 'web', '-l', 'app=nginx', '--duration', '200ms'];

function cluster(play: Play = {}) {
  const c = clusterWithAgent();
  withNginx(c);
  playAgent(c, play);
  return c;
}

const profile = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'deployment-nginx.seccomp.json'), 'utf8')) as {
    syscalls: { names: string[] }[];
  };

describe('kubectl harden record', () => {
  test("writes every workload's files and the manifest, prints the summary, and leaves no session", async () => {
    const created: TraceSession[] = [];
    const c = cluster({ created: (s) => created.push(structuredClone(s)) });
    const dir = tmpDir();
    const interrupts = new FakeInterrupts();
    const r = await runCli([...RECORD, '--output-dir', dir], c, interrupts);
    expect(r.err).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    // Three sessions, one per recorder, sharing the recording's label.
    expect(created.map((s) => s.spec.type).sort()).toEqual(['capabilities', 'network', 'seccomp']);
    const ids = new Set(created.map((s) => s.metadata.labels?.['harden.dev/record']));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^rec-/);
    expect(c.sessions()).toEqual([]);
    expect(interrupts.listening).toBe(0);

    const files = readdirSync(dir).sort();
    const id = [...ids][0] as string;
    expect(files).toEqual(
      [
        'deployment-nginx.netpol.yaml',
        'deployment-nginx.seccomp.json',
        'deployment-nginx.seccompprofile.yaml',
        'deployment-nginx.securitycontext.yaml',
        `record-${id}.evidence.json`,
        `record-${id}.flows.log`,
        'record.json',
      ].sort(),
    );
    expect(profile(dir).syscalls[0].names).toEqual(
      expect.arrayContaining(['execve', 'exit_group', 'read', 'write']),
    );
    const netpol = load(readFileSync(join(dir, 'deployment-nginx.netpol.yaml'), 'utf8')) as {
      kind: string;
      spec: { egress: { to: { ipBlock?: { cidr: string } }[] }[] };
    };
    expect(netpol.kind).toBe('NetworkPolicy');
    expect(JSON.stringify(netpol.spec.egress)).toContain('93.184.216.34/32');
    const sc = load(readFileSync(join(dir, 'deployment-nginx.securitycontext.yaml'), 'utf8')) as {
      workload: object;
      patch: {
        spec: { template: { spec: { containers: { securityContext: { seccompProfile: object } }[] } } };
      };
    };
    expect(sc.workload).toEqual({ kind: 'Deployment', name: 'nginx' });
    // One patch sets the securityContext and the container's own installed profile.
    expect(sc.patch.spec.template.spec.containers[0].securityContext.seccompProfile).toEqual({
      type: 'Localhost',
      localhostProfile: 'harden/web/deployment-nginx.json',
    });
    const manifest = JSON.parse(readFileSync(join(dir, 'record.json'), 'utf8'));
    expect(manifest).toMatchObject({
      kind: 'Recording',
      namespace: 'web',
      context: 'fake',
      selector: 'app=nginx',
      recordings: [{ id, restarted: false }],
    });
    expect(Object.keys(manifest.files).sort()).toEqual(files.filter((x) => x !== 'record.json'));

    const lines = r.out.trimEnd().split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual([
      'WORKLOAD',
      'START-UP RECORDED',
      'SYSCALLS',
      'PEERS',
      'PSS',
      'GAPS',
    ]);
    // Its syscalls: the profile's allow list (what was recorded plus what the runtime needs).
    const count = String(profile(dir).syscalls[0].names.length);
    expect(lines[1].split(/\s{2,}/)).toEqual(['deployment/nginx', 'yes', count, '1', 'baseline', '0']);
    expect(r.err).toContain(`kubectl harden apply -f ${dir}`);
  });

  test('-o json prints the summary as data', async () => {
    const dir = tmpDir();
    const r = await runCli([...RECORD, '--output-dir', dir, '-o', 'json'], cluster());
    expect(r.code).toBe(0);
    const syscalls = profile(dir).syscalls[0].names.length;
    expect(JSON.parse(r.out)).toEqual([
      {
        workload: 'deployment/nginx',
        startupRecorded: true,
        syscalls,
        peers: 1,
        pss: 'baseline',
        gaps: 0,
      },
    ]);
  });

  test('a recorder no node can serve is left out: the others record, and the files and summary say what is missing', async () => {
    const dir = tmpDir();
    const c = cluster({ refuse: [{ type: 'capabilities', node: 'node-1' }] });
    const r = await runCli([...RECORD, '--output-dir', dir, '-o', 'json'], c);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      'warning: no node can record capabilities sessions, so the recording goes on without them: ' +
        'session "rec-',
    );
    expect(r.err).toContain('node "node-1" (Linux 5.10.0, amd64) cannot record capabilities sessions');
    expect(r.err).toContain(
      'warning: deployment/nginx: the capabilities recorder recorded none of its pods (KernelUnsupported, e.g. on node node-1): no securityContext advice beyond its seccomp profiles',
    );
    expect(c.sessions()).toEqual([]);
    const [row] = JSON.parse(r.out) as {
      pss: string;
      syscalls: number;
      peers: number;
      notRecorded: object[];
    }[];
    expect(row).toMatchObject({ pss: 'not recorded', peers: 1, gaps: 0 });
    expect(row.syscalls).toBeGreaterThan(0);
    expect(row.notRecorded).toEqual([
      { recorder: 'capabilities', reason: 'KernelUnsupported, e.g. on node node-1' },
    ]);
    // The profile still goes in force: the file sets only each container's Localhost profile.
    const sc = load(readFileSync(join(dir, 'deployment-nginx.securitycontext.yaml'), 'utf8')) as {
      notRecorded: string;
      patch: { spec: { template: { spec: { containers: object[] } } } };
    };
    expect(sc.notRecorded).toContain('its privileges were not recorded (KernelUnsupported');
    expect(sc.patch.spec.template.spec.containers).toEqual([
      {
        name: 'nginx',
        securityContext: {
          seccompProfile: { type: 'Localhost', localhostProfile: 'harden/web/deployment-nginx.json' },
        },
      },
    ]);
    expect(existsSync(join(dir, 'deployment-nginx.netpol.yaml'))).toBe(true);
    const evidence = readdirSync(dir).find((x) => x.endsWith('.evidence.json')) as string;
    expect(JSON.parse(readFileSync(join(dir, evidence), 'utf8')).refused).toEqual([
      expect.objectContaining({ recorder: 'capabilities', node: 'node-1', everywhere: true }),
    ]);

    const table = await runCli(
      [...RECORD, '--output-dir', tmpDir()],
      cluster({ refuse: [{ type: 'network', node: 'node-1' }] }),
    );
    expect(table.code).toBe(0);
    expect(
      table.out
        .trimEnd()
        .split('\n')[1]
        .split(/\s{2,}/),
    ).toEqual(['deployment/nginx', 'yes', expect.stringMatching(/^\d+$/), 'not recorded', 'baseline', '0']);
  });

  test('a recorder one node refuses while another serves: that pod counts as a gap, named', async () => {
    const dir = tmpDir();
    const c = cluster({ refuse: [{ type: 'capabilities', node: 'node-2' }] });
    const pod = nginxPod('nginx-7c9f-fghij', 'uid-2');
    c.put(R.pods, { ...pod, spec: { ...pod.spec, nodeName: 'node-2' } } as Pod);
    c.put(R.pods, {
      metadata: { name: 'harden-agent-y', namespace: AGENT_NAMESPACE, labels: { ...AGENT_LABELS } },
      spec: { nodeName: 'node-2', containers: [{ name: 'agent' }] },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    } as Pod);
    const r = await runCli([...RECORD, '--output-dir', dir, '-o', 'json'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'warning: deployment/nginx: the capabilities recorder did not record its pod nginx-7c9f-fghij on node node-2 (KernelUnsupported): its capabilities files are from its other pods only',
    );
    expect(r.err).toContain('--accept-gaps');
    const [row] = JSON.parse(r.out) as { pss: string; gaps: number; notRecorded?: object[] }[];
    expect(row).toMatchObject({ pss: 'baseline', gaps: 1 });
    expect(row.notRecorded).toBeUndefined();
  });

  test('every recorder refused: a clear error, nothing written, no session left', async () => {
    const dir = tmpDir();
    const c = cluster({
      refuse: ['seccomp', 'capabilities', 'network'].map((type) => ({ type, node: 'node-1' })),
    });
    const r = await runCli([...RECORD, '--output-dir', dir], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('no recorder can trace recording rec-');
    expect(r.err).toContain('cannot record network sessions');
    expect(existsSync(dir)).toBe(false);
    expect(c.sessions()).toEqual([]);
  });

  test('a re-run into the same directory merges: the union of both recordings', async () => {
    const dir = tmpDir();
    expect((await runCli([...RECORD, '--output-dir', dir], cluster({ syscalls: [0, 1] }))).code).toBe(0);
    const again = await runCli([...RECORD, '--output-dir', dir], cluster({ syscalls: [0, 59] }));
    expect(again.code).toBe(0);
    expect(profile(dir).syscalls[0].names).toEqual(expect.arrayContaining(['read', 'write', 'execve']));
    const manifest = JSON.parse(readFileSync(join(dir, 'record.json'), 'utf8'));
    expect(manifest.recordings).toHaveLength(2);
    expect(readdirSync(dir).filter((x) => x.endsWith('.evidence.json'))).toHaveLength(2);
  });

  test('a directory with files record did not write, or changed since, is refused before anything starts', async () => {
    const foreign = tmpDir();
    const c = cluster();
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'notes.txt'), 'mine');
    const r = await runCli([...RECORD, '--output-dir', foreign], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `${foreign} was not written by kubectl harden record (no record.json; it holds notes.txt)`,
    );
    expect(c.requests.filter((q) => q.startsWith('POST'))).toEqual([]);

    const dir = tmpDir();
    expect((await runCli([...RECORD, '--output-dir', dir], cluster())).code).toBe(0);
    writeFileSync(join(dir, 'deployment-nginx.seccomp.json'), '{}');
    const changed = await runCli([...RECORD, '--output-dir', dir], c);
    expect(changed.code).toBe(1);
    expect(changed.err).toContain('deployment-nginx.seccomp.json differs from record.json');
    writeFileSync(join(dir, 'extra.yaml'), 'x: 1');
    const extra = await runCli([...RECORD, '--output-dir', dir], c);
    expect(extra.err).toContain('holds files kubectl harden record did not write: extra.yaml');
    expect(c.sessions()).toEqual([]);
  });

  test('a directory recorded from another namespace is refused', async () => {
    const dir = tmpDir();
    expect((await runCli([...RECORD, '--output-dir', dir], cluster())).code).toBe(0);
    const r = await runCli(['record', '-n', 'other', '--all', '--output-dir', dir], cluster());
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${dir} holds a recording of namespace "web", not "other"`);
  });

  test('nothing selected, or only a workload scaled to zero: a clear error, no session', async () => {
    const c = cluster();
    const none = await runCli(['record', '-n', 'web', '-l', 'app=none', '--output-dir', tmpDir()], c);
    expect(none.code).toBe(1);
    expect(none.err).toContain('nothing to record in namespace "web" (selector app=none');
    const zero = clusterWithAgent();
    withNginx(zero, { replicas: 0 });
    playAgent(zero);
    const r = await runCli([...RECORD, '--output-dir', tmpDir()], zero);
    expect(r.code).toBe(1);
    expect(r.err).toContain('deployment/nginx is scaled to zero and no pod runs');
    expect(zero.sessions()).toEqual([]);
  });

  test('--restart rolls out each Deployment after tracing is armed; a bare pod is named as not restartable', async () => {
    const c = cluster();
    const r = await runCli(
      ['record', '-n', 'web', '--all', '--restart', '--duration', '200ms', '--output-dir', tmpDir()],
      c,
    );
    expect(r.code).toBe(0);
    const d = c.objects.get(resourcePath(R.deployments, { namespace: 'web', name: 'nginx' })) as never as {
      spec: { template: { metadata: { annotations: Record<string, string> } } };
    };
    expect(d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt']).toMatch(/^\d{4}-/);
    expect(r.err).toContain('restarting deployment/nginx');
    expect(r.err).toContain('pod/web-1 is not restartable');
    // The restart came after every session traced.
    const patch = c.requests.indexOf('PATCH /apis/apps/v1/namespaces/web/deployments/nginx');
    const posts = c.requests.map((q, i) => [q, i] as const).filter(([q]) => q.startsWith('POST'));
    expect(posts).toHaveLength(3);
    expect(patch).toBeGreaterThan(Math.max(...posts.map(([, i]) => i)));
  });

  test('a rollout that never completes under --restart is named; the sessions are removed, nothing written', async () => {
    const c = clusterWithAgent();
    withNginx(c, {
      status: { observedGeneration: 1, replicas: 2, updatedReplicas: 0, availableReplicas: 1 },
    });
    playAgent(c);
    const dir = tmpDir();
    const r = await runCli([...RECORD, '--restart', '--rollout-timeout', '1s', '--output-dir', dir], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      'the rollout of deployment/nginx (0 of 1 new replicas updated) in namespace "web" did not complete within 1s',
    );
    expect(c.sessions()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  test('Ctrl-C ends the recording as --duration does: the files are written and no session is left', async () => {
    const c = cluster();
    const interrupts = new FakeInterrupts();
    const running = runCli(
      ['record', '-n', 'web', '-l', 'app=nginx', '--output-dir', tmpDir()],
      c,
      interrupts,
    );
    await new Promise((r) => setTimeout(r, 300));
    interrupts.ctrlC();
    const r = await running;
    expect(r.code).toBe(0);
    expect(r.out).toContain('deployment/nginx');
    expect(c.sessions()).toEqual([]);
    expect(interrupts.listening).toBe(0);
  });

  test('--include-shutdown stops one pod of each workload while every recorder traces, and waits for its traced replacement', async () => {
    const sessions: TraceSession[] = [];
    const c = cluster({ created: (s) => void sessions.push(s) });
    const agent = c.hook;
    c.hook = (method, path, obj) => {
      agent?.(method, path, obj);
      if (method !== 'DELETE' || !path.endsWith(`/pods/${POD}`)) return;
      c.put(R.pods, nginxPod('nginx-7c9f-fghij', 'uid-2'));
      const seccomp = sessions.find((x) => x.spec.type === 'seccomp');
      const node = seccomp?.status?.nodes?.[0];
      if (node?.containers)
        node.containers.push({ ...node.containers[0], pod: 'nginx-7c9f-fghij', podUID: 'uid-2' });
    };
    const r = await runCli([...RECORD, '--include-shutdown', '--output-dir', tmpDir()], c);
    expect(r.err).toContain('deployment/nginx: stopping pod nginx-7c9f-abcde gracefully');
    expect(r.err).toContain('deployment/nginx: replacement nginx-7c9f-fghij is Ready and traced');
    // The pod went before the sessions were stopped: its shutdown is in the recording.
    const deleted = c.requests.indexOf(`DELETE /api/v1/namespaces/web/pods/${POD}`);
    const stops = c.requests
      .map((q, i) => [q, i] as const)
      .filter(([q]) => q.startsWith('PATCH') && q.includes('/tracesessions/'));
    expect(deleted).toBeGreaterThan(-1);
    expect(stops.length).toBeGreaterThan(0);
    expect(Math.min(...stops.map(([, i]) => i))).toBeGreaterThan(deleted);
    expect(r.code).toBe(0);
    expect(c.sessions()).toEqual([]);
  });

  test('a pod that comes and goes between two polls (a surge pod) is in the evidence; pods are listed twice in all', async () => {
    const c = cluster();
    const kube = c.kube('web');
    const pods = resourcePath(R.pods, { namespace: 'web' });
    const surge = 'nginx-7c9f-surge';
    // Well inside the first one-second poll interval of a 1.5 s recording.
    setTimeout(() => {
      void kube
        .request('POST', pods, { body: nginxPod(surge, 'uid-surge') })
        .then(() => kube.request('DELETE', `${pods}/${surge}`));
    }, 300);
    const dir = tmpDir();
    const r = await runCli(
      ['record', '-n', 'web', '-l', 'app=nginx', '--duration', '1500ms', '--output-dir', dir],
      c,
    );
    expect(r.code).toBe(0);
    const evidence = readdirSync(dir).find((x) => x.endsWith('.evidence.json')) as string;
    const seen = JSON.parse(readFileSync(join(dir, evidence), 'utf8')) as { pods: Record<string, unknown> };
    expect(Object.keys(seen.pods).sort()).toEqual([POD, surge]);
    // Two lists however long it records: the workloads' selection, and the watch's first.
    expect(c.requests.filter((q) => q === `GET ${pods}`)).toHaveLength(2);
  });

  test('without --restart, a workload whose start-up was not seen is named', async () => {
    const r = await runCli([...RECORD, '--output-dir', tmpDir()], cluster({ fromStart: false }));
    expect(r.code).toBe(0);
    expect(r.err).toContain('warning: the start-up of deployment/nginx was not recorded');
    expect(r.out.split('\n')[1].split(/\s{2,}/)[1]).toBe('no');
  });

  test('a gap is named and counted; exit 1 unless --accept-gaps (the files are written either way)', async () => {
    const gap: Gap = { from: '2025-01-01T00:00:10Z', to: '2025-01-01T00:00:12Z', reason: 'BpftraceExited' };
    const dir = tmpDir();
    const r = await runCli([...RECORD, '--output-dir', dir], cluster({ gaps: [gap] }));
    expect(r.code).toBe(1);
    expect(r.err).toContain('deployment/nginx was not traced throughout');
    expect(r.out.split('\n')[1].split(/\s{2,}/)[5]).toBe('1');
    const ok = await runCli([...RECORD, '--output-dir', tmpDir(), '--accept-gaps'], cluster({ gaps: [gap] }));
    expect(ok.code).toBe(0);
  });

  test('-l and --all together, or neither, is a usage error before any connection', async () => {
    for (const args of [
      ['record', '-n', 'web', '-l', 'a=b', '--all', '--output-dir', 'x'],
      ['record', '-n', 'web', '--output-dir', 'x'],
    ]) {
      const r = await runCli(args, clusterWithAgent());
      expect(r.code).toBe(1);
      expect(r.connects).toBe(0);
      expect(r.err).toContain('exactly one of -l/--selector or --all');
    }
  });
});

describe('kubectl harden apply', () => {
  let root: string;
  let agent: InstallController | undefined;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'seccomp-root-'));
  });
  afterEach(async () => {
    await agent?.close();
    agent = undefined;
  });

  /** A recording of nginx in dir, and a cluster whose node-1 agent installs profiles into `root`. */
  async function recorded(over: Parameters<typeof withNginx>[1] = {}, play: Play = {}) {
    const dir = tmpDir();
    expect((await runCli([...RECORD, '--output-dir', dir], cluster(play))).code).toBe(0);
    const c = clusterWithAgent();
    withNginx(c, over);
    c.put(R.crds, { metadata: { name: 'seccompprofileinstalls.harden.dev' } });
    c.put(R.nodes, {
      metadata: { name: 'node-1' },
      status: { nodeInfo: { architecture: 'amd64' } },
    } as never);
    const store = new ProfileStore(root);
    store.open();
    agent = new InstallController(c.kube('default'), {
      node: 'node-1',
      arch: 'amd64',
      store,
      log: () => undefined,
    });
    await agent.start();
    return { dir, c };
  }

  const deployment = (c: FakeCluster) =>
    c.objects.get(resourcePath(R.deployments, { namespace: 'web', name: 'nginx' })) as never as {
      metadata: { annotations?: Record<string, string> };
      spec: {
        template: {
          metadata?: { annotations?: Record<string, string> };
          spec: { containers: { securityContext?: { seccompProfile?: object } }[] };
        };
      };
    };
  const policy = (c: FakeCluster) => [...c.objects.keys()].filter((k) => k.includes('/networkpolicies/'));

  test('puts the profile on the node, patches the template once and applies the NetworkPolicy; --undo removes it all', async () => {
    const { dir, c } = await recorded();
    const before = structuredClone(deployment(c).spec.template);
    const r = await runCli(['apply', '-f', dir, '-n', 'web'], c);
    expect(r.err).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(r.out).toBe('deployment/nginx hardened\n');
    expect(r.err).toContain(
      'deployment/nginx: install seccomp profile deployment-nginx as harden/web/deployment-nginx.json',
    );
    expect(r.err).toContain('deployment/nginx: patch the pod template:');
    // The install says where the profile is, not how to put it in force: apply does that itself.
    expect(r.err).toContain('harden/web/deployment-nginx.json: installed on 1 node');
    expect(r.err).not.toContain('put it in force with');
    expect(existsSync(join(root, 'harden', 'web', 'deployment-nginx.json'))).toBe(true);
    const d = deployment(c);
    expect(d.spec.template.spec.containers[0].securityContext?.seccompProfile).toEqual({
      type: 'Localhost',
      localhostProfile: 'harden/web/deployment-nginx.json',
    });
    expect(d.spec.template.metadata?.annotations?.['harden.dev/seccomp-digest']).toMatch(
      /^sha256:|^[0-9a-f]{64}$/,
    );
    expect(JSON.parse(d.metadata.annotations?.['harden.dev/applied'] ?? '{}').template).toEqual(before);
    expect(policy(c)).toHaveLength(1);

    const u = await runCli(['apply', '--undo', '-f', dir, '-n', 'web'], c);
    expect(u.code).toBe(0);
    expect(u.out).toBe('deployment/nginx restored\n');
    expect(deployment(c).spec.template).toEqual(before);
    expect(deployment(c).metadata.annotations?.['harden.dev/applied']).toBeUndefined();
    expect(policy(c)).toEqual([]);
    expect(
      c.objects.get(resourcePath(R.seccompprofileinstalls, { namespace: 'web', name: 'deployment-nginx' })),
    ).toBeUndefined();
  });

  test('a recording without privileges still puts the profile in force, and says there is no securityContext advice', async () => {
    const { dir, c } = await recorded({}, { refuse: [{ type: 'capabilities', node: 'node-1' }] });
    const r = await runCli(['apply', '-f', dir, '-n', 'web'], c);
    expect(r.code).toBe(0);
    expect(r.err).toContain(
      'deployment/nginx: no securityContext advice beyond its seccomp profiles, as the capabilities recorder recorded none of its pods (KernelUnsupported, e.g. on node node-1)',
    );
    const [container] = deployment(c).spec.template.spec.containers as {
      securityContext?: { seccompProfile?: object; capabilities?: object };
    }[];
    expect(container.securityContext).toEqual({
      seccompProfile: { type: 'Localhost', localhostProfile: 'harden/web/deployment-nginx.json' },
    });
    expect(policy(c)).toHaveLength(1);
  });

  test('a profile name no node can install (an older record wrote it) is refused before anything is applied', async () => {
    const { dir, c } = await recorded();
    const manifest = JSON.parse(readFileSync(join(dir, 'record.json'), 'utf8')) as {
      files: Record<string, string>;
      workloads: { files: string[] }[];
    };
    const [from, to] = ['deployment-nginx.seccomp.json', 'deployment-nginx.main.seccomp.json'];
    renameSync(join(dir, from), join(dir, to));
    manifest.files[to] = manifest.files[from];
    delete manifest.files[from];
    manifest.workloads[0].files = manifest.workloads[0].files.map((f) => (f === from ? to : f));
    writeFileSync(join(dir, 'record.json'), JSON.stringify(manifest));
    const before = structuredClone(deployment(c));
    const r = await runCli(['apply', '-f', dir, '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${dir}/deployment-nginx.main.seccomp.json cannot be installed under that name`);
    expect(r.err).toContain('record again into a new directory');
    expect(deployment(c)).toEqual(before);
    expect(policy(c)).toEqual([]);
  });

  test('--dry-run=client says what would change and changes nothing', async () => {
    const { dir, c } = await recorded();
    const before = structuredClone(deployment(c));
    const r = await runCli(['apply', '-f', dir, '-n', 'web', '--dry-run=client'], c);
    expect(r.code).toBe(0);
    expect(r.out).toBe('deployment/nginx would be hardened (client dry run)\n');
    expect(r.err).toContain('server-side apply NetworkPolicy');
    expect(deployment(c)).toEqual(before);
    expect(policy(c)).toEqual([]);
  });

  test('a failed rollout puts the workload back as it was and names it', async () => {
    const { dir, c } = await recorded({
      status: { observedGeneration: 1, replicas: 2, updatedReplicas: 0, availableReplicas: 1 },
    });
    const before = structuredClone(deployment(c).spec.template);
    const r = await runCli(['apply', '-f', dir, '-n', 'web', '--timeout', '1s'], c);
    expect(r.code).toBe(1);
    expect(r.err).toContain('deployment/nginx did not roll out hardened');
    expect(r.err).toContain('it was rolled back');
    expect(deployment(c).spec.template).toEqual(before);
    expect(deployment(c).metadata.annotations?.['harden.dev/applied']).toBeUndefined();
    expect(policy(c)).toEqual([]);
  });

  test('refused: another namespace, a directory record did not write, the agent not deployed', async () => {
    const { dir, c } = await recorded();
    const other = await runCli(['apply', '-f', dir, '-n', 'other'], c);
    expect(other.code).toBe(1);
    expect(other.err).toContain(`${dir} is a recording of namespace "web", not "other"`);
    const empty = tmpDir();
    mkdirSync(empty, { recursive: true });
    const notRecord = await runCli(['apply', '-f', empty, '-n', 'web'], c);
    expect(notRecord.err).toContain(`${empty} was not written by kubectl harden record`);
    c.objects.delete(resourcePath(R.crds, { name: 'tracesessions.harden.dev' }));
    const undeployed = await runCli(['apply', '-f', dir, '-n', 'web'], c);
    expect(undeployed.code).toBe(1);
    expect(undeployed.err).toContain("kubectl-harden's agent is not deployed");
    expect(policy(c)).toEqual([]);
  });

  test('--audit applies the NetworkPolicies only when they pass every connection of the recording', async () => {
    const { dir, c } = await recorded();
    const r = await runCli(['apply', '-f', dir, '-n', 'web', '--audit'], c);
    expect(r.code).toBe(0);
    expect(r.err).toContain("netpol verify: the recording's 1 connections all pass the NetworkPolicies");
    expect(r.err).toContain('audit variant');
    expect(policy(c)).toHaveLength(1);
  });
});

describe('kubectl harden apply, Ctrl-C', () => {
  test('Ctrl-C while a workload is being hardened lets it finish, then stops', async () => {
    const dir = tmpDir();
    expect((await runCli([...RECORD, '--output-dir', dir], cluster())).code).toBe(0);
    const c = clusterWithAgent();
    withNginx(c);
    c.put(R.crds, { metadata: { name: 'seccompprofileinstalls.harden.dev' } });
    c.put(R.nodes, {
      metadata: { name: 'node-1' },
      status: { nodeInfo: { architecture: 'amd64' } },
    } as never);
    const store = new ProfileStore(mkdtempSync(join(tmpdir(), 'seccomp-root-')));
    store.open();
    const agent = new InstallController(c.kube('default'), {
      node: 'node-1',
      arch: 'amd64',
      store,
      log: () => undefined,
    });
    await agent.start();
    const interrupts = new FakeInterrupts();
    const hook = c.hook;
    c.hook = (method, path, obj) => {
      hook(method, path, obj);
      // Ctrl-C as the template is patched: the rollout wait and the policies still complete.
      if (method === 'PATCH' && path.endsWith('/deployments/nginx')) interrupts.ctrlC();
    };
    try {
      const r = await runCli(['apply', '-f', dir, '-n', 'web'], c, interrupts);
      expect(r.out).toBe('deployment/nginx hardened\n');
      expect(r.code).toBe(0);
      expect([...c.objects.keys()].filter((k) => k.includes('/networkpolicies/'))).toHaveLength(1);
      expect(interrupts.listening).toBe(0);
    } finally {
      await agent.close();
    }
  });
});
