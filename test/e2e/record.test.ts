// Issue 24's second act, on the test node: a namespace with nginx (Deployment + Service), a curl
// client, redis with its own client and a UDP server (CoreDNS on 1053) is recorded whole by
// `kubectl harden record --all --restart` while the clients exercise it, then put in force by
// `kubectl harden apply -f DIR`: every workload rolls out under its seccomp profile, securityContext
// and NetworkPolicy, the same exercise passes with zero errors, an unlabelled pod's connection is
// refused (felix drops it), and a syscall no workload made is EPERM. The transcript, the time from
// record to the namespace in force and the summary table are printed for the closing note.
//
// Images: HARDEN_IMAGE_NGINX, HARDEN_IMAGE_CURL, HARDEN_IMAGE_REDIS, HARDEN_IMAGE_COREDNS, as
// `scripts/testenv/testenv env` exports them.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { profileName } from '../../lib/seccomp/install';
import { deployAgent, restoreAgent, type Deployed } from '../support/agent-pod';
import { harden, recordExercised, testenvEnv } from '../support/cluster';
import { eventually } from '../support/eventually';
import { kubectl, kubectlJson, runRaw } from '../support/exec';
import { ensureNamespace, testImage } from '../support/kube-pods';

const NS = 'e2e-record';
const dir = join(mkdtempSync(join(tmpdir(), 'harden-record-')), 'web');
const WORKLOADS = ['nginx', 'client', 'redis', 'redis-client', 'udp-server'];
/**
 * redis runs an init container first (as charts do: a check, a migration): it is recorded from its
 * start like the rest and confined by its own profile, so redis has one profile per container.
 */
const profilesOf = (w: string) =>
  w === 'redis'
    ? [profileName(`deployment-${w}`, 'main'), profileName(`deployment-${w}`, 'init')]
    : [`deployment-${w}`];
const PROFILES = WORKLOADS.flatMap(profilesOf);

const coredns = () => {
  const ref = process.env.HARDEN_IMAGE_COREDNS;
  if (!ref) throw new Error('HARDEN_IMAGE_COREDNS is not set: eval "$(scripts/testenv/testenv env)" first');
  return ref;
};

const deployment = (name: string, image: string, extra = '', init = '') => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      terminationGracePeriodSeconds: 2${init}
      containers:
      - name: main
        image: ${image}${extra}
`;

const manifests = () =>
  [
    deployment('nginx', testImage('nginx'), `\n        ports: [{containerPort: 80}]`),
    deployment('client', testImage('curl')),
    deployment(
      'redis',
      testImage('redis'),
      `\n        ports: [{containerPort: 6379}]`,
      `
      initContainers:
      - name: init
        image: ${testImage('redis')}
        command: [sh, -c, 'redis-server --version']`,
    ),
    deployment('redis-client', testImage('curl')),
    deployment(
      'udp-server',
      coredns(),
      `
        args: [-conf, /etc/coredns/Corefile]
        ports: [{containerPort: 1053, protocol: UDP}]
        volumeMounts: [{name: conf, mountPath: /etc/coredns}]
      volumes: [{name: conf, configMap: {name: corefile}}]`,
    ),
    `
apiVersion: v1
kind: ConfigMap
metadata: {name: corefile, namespace: ${NS}}
data:
  Corefile: |
    .:1053 {
      whoami
    }
---
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: ${NS}}
spec: {selector: {app: nginx}, ports: [{port: 80, targetPort: 80, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: redis, namespace: ${NS}}
spec: {selector: {app: redis}, ports: [{port: 6379, targetPort: 6379, protocol: TCP}]}
---
apiVersion: v1
kind: Service
metadata: {name: udp-server, namespace: ${NS}}
spec: {selector: {app: udp-server}, ports: [{port: 1053, targetPort: 1053, protocol: UDP}]}
`,
  ].join('\n---\n');

/**
 * Runs a check in a pod. A connection that hangs (bash's /dev/tcp has no connect timeout; a SYN to
 * a Service the dataplane has not programmed yet waits minutes) ends as a failed check, which the
 * callers retry, rather than as kubectl killed at its timeout.
 */
async function inPod(target: string, script: string): Promise<{ ok: boolean; out: string }> {
  const r = await runRaw('kubectl', ['exec', '-n', NS, target, '--', 'timeout', '20', 'bash', '-c', script], {
    env: testenvEnv().processEnv,
    timeoutMs: 30_000,
  });
  return { ok: r.code === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

/** A DNS question for "a." over UDP (bash's /dev/udp); passes when an answer datagram comes back. */
const QUERY = '\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x01a\\x00\\x00\\x01\\x00\\x01';
const udpQuery = (host: string, port: number) =>
  `exec 3<>/dev/udp/${host}/${port}; printf '${QUERY}' >&3; [ "$(timeout 3 dd bs=512 count=1 <&3 2>/dev/null | wc -c)" -gt 0 ]`;
const redisCmd = (cmd: string, reply: string) =>
  `exec 3<>/dev/tcp/redis/6379 && printf '${cmd}\\r\\n' >&3 && timeout 3 head -c ${reply.length} <&3 | grep -qF '${reply}'`;

/** Everything the clients do, by Service name (so cluster DNS too); the failures, named. */
async function exercise(): Promise<string[]> {
  const checks: [string, string, string][] = [
    ['client -> nginx:80', 'deploy/client', 'curl -sSf -m 5 -o /dev/null http://nginx/'],
    ['redis-client -> redis SET', 'deploy/redis-client', redisCmd('SET k v', '+OK')],
    ['redis-client -> redis GET', 'deploy/redis-client', redisCmd('GET k', '$1')],
    ['client -> udp-server:1053/UDP', 'deploy/client', udpQuery('udp-server', 1053)],
  ];
  const failed: string[] = [];
  for (const [what, pod, script] of checks) {
    const r = await inPod(pod, script);
    if (!r.ok) failed.push(`${what}: ${r.out}`);
  }
  return failed;
}

const say = (text: string) => process.stdout.write(`${text}\n`);

let deployed: Deployed | undefined;
let recordOut = '';
let recordErr = '';
let applyOut = '';
let applyErr = '';
let inForceMs = 0;

beforeAll(async () => {
  deployed = await deployAgent();
  await ensureNamespace(NS);
  await kubectl(['apply', '-f', '-'], { input: manifests() });
  for (const d of WORKLOADS) await kubectl(['rollout', 'status', '-n', NS, `deploy/${d}`, '--timeout=120s']);
  // Everything works before anything is hardened.
  expect(
    await eventually(exercise, (f) => f.length === 0, { what: 'the exercise', withinMs: 60_000 }),
  ).toEqual([]);

  const t0 = Date.now();
  const recorded = await recordExercised(
    ['-n', NS, '--all', '--restart', '--duration', '30s', '--output-dir', dir, '--accept-gaps'],
    // The clients exercise everything while it records (each new pod's start-up is already in it).
    async () => {
      for (let i = 0; i < 3; i++)
        await eventually(exercise, (f) => f.length === 0, { what: 'the exercise', withinMs: 30_000 });
    },
  );
  recordOut = recorded.stdout;
  recordErr = recorded.stderr;
  // A gap fails its own test below, not the whole act (--accept-gaps).
  say(
    `$ kubectl harden record -n ${NS} --all --restart --duration 30s --output-dir ${dir} --accept-gaps\n${recordErr}${recordOut}`,
  );
  expect(recorded.code).toBe(0);

  // A server dry run says what would change; the API server keeps nothing of it.
  const dry = await harden(['apply', '-f', dir, '-n', NS, '--dry-run=server'], { timeoutMs: 300_000 });
  say(
    `$ kubectl harden apply -f ${dir} -n ${NS} --dry-run=server\n${dry.stderr}${dry.stdout}(exit ${dry.code})`,
  );
  expect(dry.code).toBe(0);
  expect(dry.stdout.trim().split('\n').sort()).toEqual(
    WORKLOADS.map((w) => `deployment/${w} would be hardened (server dry run)`).sort(),
  );
  expect(await hardening()).toEqual({ profiled: 0, installs: 0, policies: 0 });

  const a = await harden(['apply', '-f', dir, '-n', NS, '--timeout', '180s'], { timeoutMs: 600_000 });
  applyOut = a.stdout;
  applyErr = a.stderr;
  inForceMs = Date.now() - t0;
  say(`$ kubectl harden apply -f ${dir} -n ${NS}\n${applyErr}${applyOut}(exit ${a.code})`);
  say(`record -> namespace in force: ${(inForceMs / 1000).toFixed(1)} s`);
  expect(a.code).toBe(0);
}, 900_000);

/** How much of the hardening is in the namespace: templates with a seccomp profile, installs, policies. */
async function hardening(): Promise<{ profiled: number; installs: number; policies: number }> {
  const items = async (kind: string) =>
    (await kubectlJson<{ items: Deploy[] }>(['get', kind, '-n', NS, '-o', 'json'])).items;
  const deployments = await items('deployments');
  return {
    profiled: deployments.filter((d) => d.spec.template.spec.containers[0].securityContext?.seccompProfile)
      .length,
    installs: (await items('seccompprofileinstalls')).length,
    policies: (await items('networkpolicies')).length,
  };
}

afterAll(async () => {
  await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=true'], {
    timeoutMs: 120_000,
  }).catch(() => undefined);
  await restoreAgent(deployed);
});

interface Deploy {
  metadata: { annotations?: Record<string, string> };
  spec: {
    template: {
      metadata?: { annotations?: Record<string, string> };
      spec: {
        containers: { securityContext?: { seccompProfile?: { type: string; localhostProfile?: string } } }[];
        initContainers?: {
          securityContext?: { seccompProfile?: { type: string; localhostProfile?: string } };
        }[];
      };
    };
  };
}

test('record wrote every workload its files and a summary row, with its start-up recorded', () => {
  const files = readdirSync(dir);
  for (const p of PROFILES) expect(files).toContain(`${p}.seccomp.json`);
  for (const w of WORKLOADS) {
    expect(files).toContain(`deployment-${w}.securitycontext.yaml`);
    expect(files).toContain(`deployment-${w}.netpol.yaml`);
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'record.json'), 'utf8')) as {
    workloads: { workload: string; startupRecorded: boolean; gaps: number }[];
  };
  expect(manifest.workloads.map((w) => w.workload).sort()).toEqual(
    WORKLOADS.map((w) => `deployment/${w}`).sort(),
  );
  for (const w of manifest.workloads) expect(w).toMatchObject({ startupRecorded: true, gaps: 0 });
  const [head, ...rows] = recordOut.trim().split('\n');
  expect(head).toMatch(/^WORKLOAD\s+START-UP RECORDED\s+SYSCALLS\s+PEERS\s+PSS\s+GAPS$/);
  // None of these images needs what only "privileged" allows; the runtime's set-up (mount,
  // pivot_root: CAP_SYS_ADMIN) must never be taken for the workload's.
  const pss = rows.map((r) => [r.split(/\s+/)[0], r.split(/\s+/).at(-2)]);
  expect(pss.map(([w]) => w).sort()).toEqual(WORKLOADS.map((w) => `deployment/${w}`).sort());
  for (const [w, level] of pss)
    expect([w, ['baseline', 'restricted'].includes(level ?? '')]).toEqual([w, true]);
});

test('apply rolled every workload out under its profile, securityContext and policy', async () => {
  expect(applyOut.trim().split('\n').sort()).toEqual(WORKLOADS.map((w) => `deployment/${w} hardened`).sort());
  for (const w of WORKLOADS) {
    const d = await kubectlJson<Deploy>(['get', 'deployment', w, '-n', NS, '-o', 'json']);
    const { containers, initContainers = [] } = d.spec.template.spec;
    expect([...containers, ...initContainers].map((c) => c.securityContext?.seccompProfile)).toEqual(
      profilesOf(w).map((p) => ({ type: 'Localhost', localhostProfile: `harden/${NS}/${p}.json` })),
    );
    expect(d.metadata.annotations?.['harden.dev/applied']).toBeDefined();
    await kubectl(['rollout', 'status', '-n', NS, `deploy/${w}`, '--timeout=60s']);
  }
  const policies = await kubectlJson<{ items: unknown[] }>([
    'get',
    'networkpolicies',
    '-n',
    NS,
    '-o',
    'json',
  ]);
  expect(policies.items.length).toBeGreaterThanOrEqual(WORKLOADS.length);
});

test('the same exercise passes with zero errors', async () => {
  // felix programs the policies asynchronously: wait for a first clean pass, then count three more.
  await eventually(exercise, (f) => f.length === 0, {
    what: 'the exercise under the hardening',
    withinMs: 30_000,
  });
  const errors: string[] = [];
  for (let i = 0; i < 3; i++) errors.push(...(await exercise()));
  expect(errors).toEqual([]);
});

test("an unlabelled pod's connection is refused", async () => {
  await kubectl([
    'run',
    'stranger',
    '-n',
    NS,
    '--image',
    testImage('curl'),
    '--restart=Never',
    '--command',
    '--',
    'sleep',
    '600',
  ]);
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/stranger', '--timeout=120s']);
  const r = await inPod('stranger', 'curl -sS -m 3 -o /dev/null http://nginx/');
  expect(r.ok).toBe(false);
  expect(r.out).toMatch(/timed out|Connection refused/i);
});

test('a syscall no workload made gets EPERM', async () => {
  const r = await runRaw(
    'kubectl',
    ['exec', '-n', NS, 'deploy/nginx', '--', 'ln', '-s', '/etc/hostname', '/tmp/never-linked'],
    {
      env: testenvEnv().processEnv,
    },
  );
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/Operation not permitted/);
});

test('apply --undo --dry-run=server keeps everything; apply --undo puts the namespace back as it was', async () => {
  const before = await hardening();
  expect(before).toMatchObject({ profiled: WORKLOADS.length, installs: PROFILES.length });
  const dry = await harden(['apply', '--undo', '-f', dir, '-n', NS, '--dry-run=server'], {
    timeoutMs: 300_000,
  });
  expect(dry.code).toBe(0);
  expect(dry.stdout.trim().split('\n').sort()).toEqual(
    WORKLOADS.map((w) => `deployment/${w} would be restored (server dry run)`).sort(),
  );
  expect(await hardening()).toEqual(before);

  const u = await harden(['apply', '--undo', '-f', dir, '-n', NS, '--timeout', '180s'], {
    timeoutMs: 600_000,
  });
  say(`$ kubectl harden apply --undo -f ${dir} -n ${NS}\n${u.stderr}${u.stdout}(exit ${u.code})`);
  expect(u.code).toBe(0);
  expect(u.stdout.trim().split('\n').sort()).toEqual(WORKLOADS.map((w) => `deployment/${w} restored`).sort());
  expect(await hardening()).toEqual({ profiled: 0, installs: 0, policies: 0 });
  // Unconfined again: what the profiles denied works, and the exercise still passes.
  await kubectl(['rollout', 'status', '-n', NS, 'deploy/nginx', '--timeout=60s']);
  // (A pod of the old template may still be terminating: asked again until a new one answers.)
  const ln = () =>
    runRaw('kubectl', ['exec', '-n', NS, 'deploy/nginx', '--', 'ln', '-sf', '/etc/hostname', '/tmp/linked'], {
      env: testenvEnv().processEnv,
    });
  expect((await eventually(ln, (r) => r.code === 0, { what: 'ln in nginx', withinMs: 30_000 })).code).toBe(0);
  expect(
    await eventually(exercise, (f) => f.length === 0, { what: 'the exercise', withinMs: 60_000 }),
  ).toEqual([]);
});
