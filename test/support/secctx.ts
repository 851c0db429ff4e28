// securitycontext end to end on the real node, proven by enforcement: trace a Deployment from its
// pods' start through the bundle, patch it with the advice (`-o patch`, `kubectl patch`), kubelet
// restarts it under that securityContext and it serves; a privilege the advice took away is gone;
// and Pod Security admission accepts the patched pod under `enforce: restricted` when the advice
// says restricted. Images and the agent image come from `scripts/testenv/testenv env`.
import { load } from 'js-yaml';
import { harden } from './cluster';
import { kubectl, kubectlJson, runRaw } from './exec';
import { testenvEnv } from './env';
import { agentLog } from './agent-pod';
import {
  deleteNamespace,
  ensureNamespace,
  execInKubePod,
  runDeployment,
  runKubePod,
  testImage,
  waitPodsReady,
  type KubePod,
  type PodOptions,
} from './kube-pods';

export const NS = 'e2e-secctx';
export const RESTRICTED_NS = 'e2e-secctx-restricted';

export interface Workload extends Omit<PodOptions, 'namespace'> {
  port: number;
  /** A request from the client pod that proves it serves ($IP: the pod's address). */
  probe: string[];
  /** What the client does while it is traced. */
  exercise: string[];
}

export interface Advice {
  podSecurityStandard: { level: string; notRestrictedBecause?: string[] };
  containers: {
    name: string;
    securityContext: {
      runAsUser?: number;
      runAsNonRoot?: boolean;
      capabilities?: { add?: string[]; drop?: string[] };
      readOnlyRootFilesystem?: boolean;
    };
    rootNeeded?: { why: string; alternatives: string[] };
    emptyDirs: string[];
    notObserved: string[];
  }[];
}

export async function ok(args: string[]): Promise<string> {
  const r = await harden(args);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r.stdout;
}

export const http = (port: number) => ['curl', '-sSf', '-m', '5', '-o', '/dev/null', `http://$IP:${port}/`];
/** A redis command over bash's /dev/tcp (the curl image has bash, not redis-cli). */
export const redis = (cmd: string, reply: string) => [
  'bash',
  '-c',
  `exec 3<>/dev/tcp/$IP/6379 && printf '${cmd}\\r\\n' >&3 && timeout 3 head -c ${reply.length} <&3 | grep -qF '${reply}'`,
];

/**
 * containerd 2 gives every pod net.ipv4.ip_unprivileged_port_start=0, so no bind there is
 * privileged; the nginx pods set the kernel's own default back (a safe sysctl, allowed under
 * restricted) so that binding :80 takes CAP_NET_BIND_SERVICE, as on nodes that keep it.
 */
export const LOW_PORTS_PRIVILEGED = {
  sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '1024' }],
};

export const NGINX: Workload = {
  name: 'nginx',
  image: testImage('nginx'),
  podSecurityContext: LOW_PORTS_PRIVILEGED,
  port: 80,
  probe: http(80),
  exercise: http(80),
};
/** The seed's nginx-non-root: uid/gid 1000, no privilege escalation, RuntimeDefault. */
export const NGINX_NON_ROOT: Workload = {
  name: 'nginx-non-root',
  image: testImage('nginxUnprivileged'),
  port: 8080,
  podSecurityContext: {
    runAsUser: 1000,
    runAsGroup: 1000,
    seccompProfile: { type: 'RuntimeDefault' },
    ...LOW_PORTS_PRIVILEGED,
  },
  securityContext: { allowPrivilegeEscalation: false },
  probe: http(8080),
  exercise: http(8080),
};
/**
 * The same unprivileged nginx with an exec readiness probe: for each probe runc's init joins the
 * container as root and switches to uid 1000 before running it (issue 20: that was taken for the
 * workload's own start-up, "root is needed").
 */
export const NGINX_EXEC_PROBE: Workload = {
  ...NGINX_NON_ROOT,
  name: 'nginx-exec-probe',
  readyExec: ['cat', '/etc/hostname'],
};
export const REDIS: Workload = {
  name: 'redis',
  image: testImage('redis'),
  port: 6379,
  probe: redis('PING', '+PONG'),
  exercise: redis('SET k v', '+OK'),
};

export let client: KubePod;

/** Runs a command in the client pod, retrying while the server may not listen yet. */
export async function fromClient(cmd: string[], ip: string, attempts = 20): Promise<void> {
  let last = '';
  for (let i = 0; i < attempts; i++) {
    const r = await execInKubePod(
      NS,
      client.metadata.name,
      cmd.map((a) => a.replace('$IP', ip)),
    );
    if (r.code === 0) return;
    last = `${r.stdout}${r.stderr}`;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`${cmd.join(' ')} against ${ip} kept failing: ${last}`);
}

/** The workload's one pod once a rollout settled. */
export async function podOf(w: Workload): Promise<KubePod> {
  await kubectl(['-n', NS, 'rollout', 'status', `deployment/${w.name}`, '--timeout=120s']);
  const [pod] = await waitPodsReady(NS, `app=${w.name}`);
  return pod;
}

/** Trace from the pods' start (-l, then a rollout), exercise, and return the advice and the patch. */
export async function traceAndAdvise(
  w: Workload,
): Promise<{ advice: Advice; patch: string; stderr: string }> {
  const id = (await ok(['securitycontext', 'start', '-n', NS, '-l', `app=${w.name}`])).trim();
  const before = (await kubectl(['get', 'pod', '-n', NS, '-l', `app=${w.name}`, '-o', 'name']))
    .trim()
    .split('\n');
  await kubectl(['-n', NS, 'rollout', 'restart', `deployment/${w.name}`]);
  const pod = await podOf(w);
  // The rollout is done once the new pod is available, the old one may still be stopping: its
  // shutdown is part of what is recorded only when it ended before the stop.
  await kubectl(['wait', '-n', NS, '--for=delete', ...before, '--timeout=90s']);
  const ip = pod.status.podIP ?? '';
  await fromClient(w.probe, ip);
  for (let i = 0; i < 5; i++) await fromClient(w.exercise, ip, 1);
  // show works mid-session; what it prints may not hold the newest pod yet (its first flush).
  const shown = await harden(['securitycontext', 'show', id, '-n', NS]);
  expect(shown.code ? shown.stderr : '').toBe('');
  // The advice is the final one: stop waits for every node's last flush (--keep, so that the
  // completed session's patch can be shown from the same records).
  const stop = await harden(['sc', 'stop', id, '-n', NS, '--keep']);
  expect(stop.code ? stop.stderr : '').toBe('');
  const shownPatch = await harden(['securitycontext', 'show', id, '-n', NS, '-o', 'patch']);
  if (shownPatch.code !== 0) {
    // What the agent did and what it wrote, for a failure that happens once in many runs.
    const [log, records] = await Promise.all([
      agentLog(2000).catch((e: Error) => e.message),
      kubectl(['-n', NS, 'get', 'tracerecords', '-o', 'yaml']).catch((e: Error) => e.message),
    ]);
    throw new Error(
      `kubectl harden securitycontext show ${id} -o patch -> ${shownPatch.code}\n${shownPatch.stderr}\n` +
        `--- stop said\n${stop.stdout}${stop.stderr}\n--- the agent's log\n${log}\n--- TraceRecords\n${records}`,
    );
  }
  const patch = shownPatch.stdout;
  await kubectl(['-n', NS, 'delete', 'tracesession', id]);
  // The closing note reports these: the advice, its level, the patch.
  process.stderr.write(`--- ${w.name}\n${stop.stdout}${stop.stderr}${patch}`);
  return { advice: load(stop.stdout) as Advice, patch, stderr: stop.stderr };
}

/** Patches the Deployment with the advice; kubelet restarts it under it; it must serve. */
export async function enforce(w: Workload, patch: string): Promise<KubePod> {
  await kubectl(['-n', NS, 'patch', `deployment/${w.name}`, '--type', 'strategic', '-p', patch]);
  const pod = await podOf(w);
  for (let i = 0; i < 3; i++) await fromClient(w.probe, pod.status.podIP ?? '');
  return pod;
}

/** Whether Pod Security admission lets the patched pod template into a restricted namespace. */
export async function admittedRestricted(w: Workload): Promise<{ code: number; stderr: string }> {
  const live = await kubectlJson<{ spec: { template: { spec: object } } }>([
    '-n',
    NS,
    'get',
    `deployment/${w.name}`,
  ]);
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${w.name}-probe`, namespace: RESTRICTED_NS },
    spec: live.spec.template.spec,
  };
  const r = await runRaw('kubectl', ['apply', '--dry-run=server', '-f', '-'], {
    env: testenvEnv().processEnv,
    input: JSON.stringify(pod),
  });
  return { code: r.code, stderr: r.stderr };
}

export const exec = (pod: KubePod, cmd: string[]) => execInKubePod(NS, pod.metadata.name, cmd);

/** The files' shared set-up: namespaces, the agent from its image, the client and the three workloads. */
export function secctxHooks(): void {
  beforeAll(async () => {
    await ensureNamespace(NS);
    await ensureNamespace(RESTRICTED_NS);
    await kubectl([
      'label',
      '--overwrite',
      'namespace',
      RESTRICTED_NS,
      'pod-security.kubernetes.io/enforce=restricted',
    ]);
    await ok(['deploy', '--image', testImage('agent'), '--timeout', '120s']);
    client = await runKubePod({
      namespace: NS,
      name: 'client',
      image: testImage('curl'),
    });
    for (const w of [NGINX, NGINX_NON_ROOT, NGINX_EXEC_PROBE, REDIS])
      await runDeployment({ ...w, namespace: NS });
  }, 600_000);

  afterAll(async () => {
    await deleteNamespace(NS).catch(() => undefined);
    await deleteNamespace(RESTRICTED_NS).catch(() => undefined);
  });
}
