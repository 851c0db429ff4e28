// seccomp audit through the real parser against the fake cluster, with the real agent-side install
// controller: apply of the audit variant arms a session on the workload's pods before patching it,
// audit lists what the enforcing profile would deny (with counts, first and last seen, and the
// gaps), the enforcing apply ends the session, and each wrong use names what to do next.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InstallController } from '../../../lib/agent/installs/controller';
import { ProfileStore } from '../../../lib/agent/installs/store';
import { tracerClusterRole } from '../../../lib/deploy/manifests';
import { R } from '../../../lib/kube/paths';
import { AUDIT_LABEL } from '../../../lib/seccomp/audit';
import type { ContainerRecord, TraceSession } from '../../../lib/session/types';
import { agentEntry, clusterWithAgent, runCli, type FakeCluster } from '../fake-cluster';

// amd64: read 0, write 1, accept4 288, symlinkat 266
const PROFILE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
};
const INSTALL = '/apis/harden.dev/v1alpha1/namespaces/web/seccompprofileinstalls/nginx';
const DEPLOY = '/apis/apps/v1/namespaces/web/deployments/nginx';
const T0 = 1_767_000_000; // 2025-12-29T09:20:00Z

let dir: string;
let root: string;
let agent: InstallController | undefined;
let c: FakeCluster;
let record: Partial<ContainerRecord> & { gaps?: ContainerRecord['gaps'] };

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'audit-cli-'));
  root = mkdtempSync(join(tmpdir(), 'seccomp-root-'));
  c = clusterWithAgent();
  c.put(R.crds, { metadata: { name: 'seccompprofileinstalls.harden.dev' } });
  c.put(R.nodes, { metadata: { name: 'node-1' }, status: { nodeInfo: { architecture: 'amd64' } } } as never);
  c.put(R.deployments, {
    metadata: { name: 'nginx', namespace: 'web' },
    spec: {
      selector: { matchLabels: { app: 'nginx' } },
      template: { metadata: { labels: { app: 'nginx' } }, spec: { containers: [{ name: 'nginx' }] } },
    },
  } as never);
  record = {
    syscalls: [0, 1, 266, 288],
    seen: [
      [0, 30, T0, T0 + 60],
      [1, 30, T0, T0 + 60],
      [266, 1, T0 + 5, T0 + 5],
      [288, 12, T0 + 1, T0 + 59],
    ],
  };
  // The agent on node-1 traces an audit session's new pod from its start.
  c.hook = (method, _path, obj) => {
    const s = obj as unknown as TraceSession | undefined;
    if (method !== 'POST' || s?.kind !== 'TraceSession') return;
    s.status = {
      phase: 'Tracing',
      nodes: [
        agentEntry(false, {
          containers: [
            {
              pod: 'nginx-7c9',
              podUID: 'u1',
              workload: 'nginx',
              container: 'nginx',
              containerID: 'containerd://1',
              recordedFromStart: true,
              filterSeen: true,
              ...record,
            },
          ],
        }),
      ],
    };
  };
  const store = new ProfileStore(root);
  store.open();
  agent = new InstallController(c.kube('default'), {
    node: 'node-1',
    arch: 'amd64',
    store,
    log: () => undefined,
  });
  await agent.start();
});
afterEach(async () => {
  await agent?.close();
  agent = undefined;
  rmSync(dir, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

async function install(audit: boolean) {
  const p = join(dir, 'p.json');
  writeFileSync(p, JSON.stringify(PROFILE));
  const r = await runCli(
    ['seccomp', 'install', p, '--name', 'nginx', '-n', 'web', ...(audit ? ['--audit'] : [])],
    c,
  );
  expect(r.code).toBe(0);
  // The API server gives every object a uid; the audit session's owner reference names it.
  (c.objects.get(INSTALL) as { metadata: { uid?: string } }).metadata.uid = 'uid-install';
}
const apply = () => runCli(['seccomp', 'apply', 'deployment/nginx', '--profile', 'nginx', '-n', 'web'], c);
const audits = () => c.sessions().filter((s) => s.metadata.labels?.[AUDIT_LABEL] === 'nginx');

test('apply of the audit variant arms a session on the workload before patching it; audit lists what enforcing would deny', async () => {
  await install(true);
  const a = await apply();
  expect(a.code).toBe(0);
  expect(a.err).toMatch(
    /audit session sca-[0-9a-f]{10} traces the pods of deployment\/nginx from their start/,
  );
  const [s] = audits();
  expect(s.spec).toEqual({
    type: 'seccomp',
    target: { selector: { matchLabels: { app: 'nginx' } } },
    state: 'Running',
  });
  expect(s.metadata.ownerReferences).toEqual([
    { apiVersion: 'harden.dev/v1alpha1', kind: 'SeccompProfileInstall', name: 'nginx', uid: 'uid-install' },
  ]);
  const order = c.requests.filter(
    (q) => q.startsWith('POST /apis/harden.dev') || q.startsWith(`PATCH ${DEPLOY}`),
  );
  expect(order[0]).toMatch(/^POST .*tracesessions$/);
  expect(order.at(-1)).toBe(`PATCH ${DEPLOY}`);

  // Applying again keeps the running session (its window goes on).
  expect((await apply()).err).toContain(`audit session ${s.metadata.name} traces deployment/nginx since`);
  expect(audits()).toHaveLength(1);

  const r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
  // Something would be denied: not yet to be enforced, as verify exits 1 on denied flows.
  expect(r.code).toBe(1);
  expect(r.out.split('\n').filter(Boolean)).toEqual([
    expect.stringMatching(/^WORKLOAD\s+CONTAINER\s+SYSCALL\s+COUNT\s+FIRST SEEN\s+LAST SEEN$/),
    expect.stringMatching(
      /^deployment\/nginx\s+nginx\s+accept4\s+12\s+2025-12-29T09:20:01Z\s+2025-12-29T09:20:59Z$/,
    ),
    expect.stringMatching(
      /^deployment\/nginx\s+nginx\s+symlinkat\s+1\s+2025-12-29T09:20:05Z\s+2025-12-29T09:20:05Z$/,
    ),
  ]);
  expect(r.err).toContain('deployment/nginx: 2 syscalls made from ');
  expect(r.err).toContain('would be denied by profile "nginx"');

  const j = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web', '-o', 'json'], c);
  expect(j.code).toBe(1);
  const json = JSON.parse(j.out);
  expect(json).toMatchObject({
    kind: 'SeccompAudit',
    profile: { localhostProfile: 'harden/web/nginx.json' },
    workloads: [
      {
        workload: 'deployment/nginx',
        state: 'Tracing',
        containers: [
          {
            container: 'nginx',
            pods: ['nginx-7c9'],
            denied: [
              {
                syscall: 'accept4',
                count: 12,
                firstSeen: '2025-12-29T09:20:01Z',
                lastSeen: '2025-12-29T09:20:59Z',
              },
              {
                syscall: 'symlinkat',
                count: 1,
                firstSeen: '2025-12-29T09:20:05Z',
                lastSeen: '2025-12-29T09:20:05Z',
              },
            ],
          },
        ],
        gaps: [],
      },
    ],
  });

  // The enforcing variant in force: the audit session stops, its records stay for audit to read.
  await install(false);
  const e = await apply();
  expect(e.err).toContain(`audit session ${s.metadata.name} of deployment/nginx stopped`);
  expect(audits()[0].spec.state).toBe('Stopped');
});

test('nothing listed is the signal to enforce (exit 0); an untraced session or a gap withholds that advice (exit 1)', async () => {
  record = {
    syscalls: [0, 1],
    seen: [
      [0, 3, T0, T0 + 2],
      [1, 3, T0, T0 + 2],
    ],
  };
  await install(true);
  expect((await apply()).code).toBe(0);
  let r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^deployment\/nginx\s+nginx\s+<none>/m);
  expect(r.err).toContain('nothing made from');
  expect(r.err).toContain('to enforce it: kubectl harden seccomp install FILE --name nginx -n web');

  const s = audits()[0];
  // No agent traces it at the moment (one restarting): what it does now is unheard, so not yet.
  s.status!.nodes![0].phase = 'Pending';
  r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
  expect(r.err).toContain('is not traced by any agent yet');
  expect(r.err).not.toContain('to enforce it');
  expect(r.code).toBe(1);
  s.status!.nodes![0].phase = 'Tracing';

  s.status!.nodes![0].containers[0].gaps = [
    { from: '2025-12-29T09:21:00Z', to: '2025-12-29T09:21:04Z', reason: 'AgentRestarted' },
  ];
  r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
  expect(r.err).toContain(
    'deployment/nginx: not listened then: nginx-7c9/nginx was not traced from 2025-12-29T09:21:00Z to 2025-12-29T09:21:04Z (4.0 s): the node agent was not running',
  );
  expect(r.err).not.toContain('to enforce it');
  expect(r.code).toBe(1);
});

test('a pod already running when the audit began is not counted, and said so', async () => {
  record = { syscalls: [288], recordedFromStart: false };
  await install(true);
  expect((await apply()).code).toBe(0);
  const r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
  expect(r.code).toBe(1); // nothing seen from its start: nothing to enforce on
  expect(r.out).toBe('');
  expect(r.err).toContain('no pod under the audit variant has started since the audit began');
  expect(r.err).toContain(
    'not counted, already running when the audit began (not under the audit variant): nginx-7c9/nginx',
  );
});

test("RBAC: every harden.dev request of apply --audit, audit and the enforcing apply is in deploy's harden-tracer role", async () => {
  await install(true);
  const from = c.requests.length;
  expect((await apply()).code).toBe(0);
  expect((await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c)).code).toBe(1); // it lists what would be denied
  await install(false);
  expect((await apply()).code).toBe(0);
  const rules = tracerClusterRole().rules;
  const used = c.requests
    .slice(from)
    // Status writes are the (fake) agent's, under its own role.
    .filter((q) => q.includes(' /apis/harden.dev/') && !q.endsWith('/status'))
    .map((q) => {
      const [method, path] = q.split(' ');
      const parts = path.split('/').slice(4); // namespaces, NS, resource[, name[, sub]]
      const resource = parts
        .slice(2, 5)
        .filter((_, i) => i !== 1)
        .join('/');
      const named = parts.length > 3;
      const verb = { GET: named ? 'get' : 'list', POST: 'create', PATCH: 'patch', DELETE: 'delete' }[method];
      return `${verb} ${resource}`;
    });
  expect(new Set(used)).toEqual(
    new Set([
      'list tracesessions',
      'list tracerecords',
      'create tracesessions',
      'get tracesessions',
      'patch tracesessions',
      'get seccompprofileinstalls',
      'patch seccompprofileinstalls',
    ]),
  );
  for (const u of new Set(used)) {
    const [verb, resource] = u.split(' ');
    expect({
      u,
      allowed: rules.some((r) => r.resources.includes(resource) && r.verbs.includes(verb)),
    }).toEqual({
      u,
      allowed: true,
    });
  }
});

describe('bad input: the object, namespace, context and the next step are named; exit 2 (1 is a finding)', () => {
  test('not installed', async () => {
    const r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
    expect(r.code).toBe(2);
    expect(r.err).toContain('no seccomp profile "nginx" is installed in namespace "web" (context "fake")');
    expect(r.err).toContain('kubectl harden seccomp install FILE --name nginx --audit -n web');
  });

  test('installed as the enforcing profile', async () => {
    await install(false);
    const r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      'seccomp profile "nginx" in namespace "web" (context "fake") is installed as the enforcing profile, not its audit variant',
    );
    expect(r.err).toContain('--audit -n web');
  });

  test('the audit variant never applied', async () => {
    await install(true);
    const r = await runCli(['seccomp', 'audit', 'nginx', '-n', 'web'], c);
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      'the audit variant of seccomp profile "nginx" in namespace "web" (context "fake") was never applied',
    );
    expect(r.err).toContain('kubectl harden seccomp apply deployment/NAME --profile nginx -n web');
  });

  test('a dry run arms nothing', async () => {
    await install(true);
    expect(
      (
        await runCli(
          ['seccomp', 'apply', 'deployment/nginx', '--profile', 'nginx', '-n', 'web', '--dry-run=client'],
          c,
        )
      ).code,
    ).toBe(0);
    expect(audits()).toEqual([]);
  });
});
