// Workloads as users run them: Pods and Deployments that the testenv's kubelet starts from the local
// registry's images (Calico CNI addresses, containerd cgroups), driven only through kubectl.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { testenvEnv } from './env';
import { kubectl, kubectlJson, runRaw, type RunResult } from './exec';
import { ensureNamespace } from './namespace';

export { ensureNamespace } from './namespace';

/** Image references `scripts/testenv/testenv env` exports, read from the environment. */
export type TestImage = 'agent' | 'nginx' | 'nginxUnprivileged' | 'redis' | 'curl';

const IMAGE_VARS: Record<TestImage, string> = {
  agent: 'HARDEN_AGENT_IMAGE',
  nginx: 'HARDEN_IMAGE_NGINX',
  nginxUnprivileged: 'HARDEN_IMAGE_NGINX_UNPRIVILEGED',
  redis: 'HARDEN_IMAGE_REDIS',
  curl: 'HARDEN_IMAGE_CURL',
};

export function testImage(which: TestImage): string {
  const v = IMAGE_VARS[which];
  const ref = process.env[v];
  if (!ref) throw new Error(`${v} is not set: run the tests after eval "$(scripts/testenv/testenv env)"`);
  return ref;
}

interface ObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  labels?: Record<string, string>;
}

export interface ContainerStatus {
  name: string;
  containerID?: string;
  ready: boolean;
  restartCount: number;
  state?: Record<string, unknown>;
}

export interface KubePod {
  metadata: ObjectMeta;
  spec: {
    nodeName?: string;
    containers: {
      name: string;
      image: string;
      resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
      securityContext?: object;
    }[];
  };
  status: {
    phase?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
    qosClass?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatus[];
  };
}

/** Applies manifests (objects or YAML/JSON text) server-side, creating their namespaces first. */
export async function apply(objects: readonly object[]): Promise<void> {
  const namespaces = new Set(
    objects
      .map((o) => (o as { metadata?: { namespace?: string } }).metadata?.namespace)
      .filter((n): n is string => !!n),
  );
  for (const ns of namespaces) await ensureNamespace(ns);
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: objects.map((o) => JSON.stringify(o)).join('\n'),
  });
}

export async function getPod(namespace: string, name: string): Promise<KubePod> {
  return kubectlJson<KubePod>(['get', 'pod', name, '-n', namespace]);
}

/** Pods matching a label selector, oldest first. */
export async function listPods(namespace: string, selector: string): Promise<KubePod[]> {
  const list = await kubectlJson<{ items: KubePod[] }>(['get', 'pods', '-n', namespace, '-l', selector]);
  return list.items;
}

/** Waiting reasons that will not clear by themselves: waiting longer only hides the cause. */
const STUCK =
  /^(CrashLoopBackOff|ImagePullBackOff|ErrImagePull|CreateContainerError|CreateContainerConfigError|InvalidImageName)$/;

/** Why a pod is not running, from its waiting containers (ImagePullBackOff, CrashLoopBackOff, …). */
function waitingReasons(p: KubePod): { text: string; stuck: boolean } {
  let stuck = false;
  const text = (p.status.containerStatuses ?? [])
    .map((c) => {
      const w = c.state?.waiting as { reason?: string; message?: string } | undefined;
      if (!w?.reason) return '';
      stuck ||= STUCK.test(w.reason);
      return `${c.name}: ${w.reason}${w.message ? ` (${w.message})` : ''}`;
    })
    .filter(Boolean)
    .join('; ');
  return { text, stuck };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until every pod the selector matches (at least `count`) is Ready and none is terminating,
 * and returns them. Fails at the timeout, or as soon as a container is stuck (crash loop, image
 * pull), with the pods' states, the last crashed container's output and the namespace's events.
 */
export async function waitPodsReady(
  namespace: string,
  selector: string,
  opts: { count?: number; timeoutMs?: number } = {},
): Promise<KubePod[]> {
  const count = opts.count ?? 1;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const env = testenvEnv().processEnv;
  for (;;) {
    const pods = await kubectlJson<{ items: (KubePod & { metadata: { deletionTimestamp?: string } })[] }>([
      'get',
      'pods',
      '-n',
      namespace,
      '-l',
      selector,
    ]);
    const live = pods.items.filter((p) => !p.metadata.deletionTimestamp);
    const ready = live.filter((p) =>
      (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length >= count && ready.length === live.length) return ready;
    const reasons = live.map((p) => ({ pod: p, ...waitingReasons(p) }));
    const stuck = reasons.find((r) => r.stuck);
    if (stuck || Date.now() > deadline) {
      const events = await runRaw('kubectl', ['get', 'events', '-n', namespace, '--sort-by=.lastTimestamp'], {
        env,
      });
      const crashed = stuck
        ? await runRaw(
            'kubectl',
            ['logs', '-n', namespace, stuck.pod.metadata.name, '--all-containers', '--previous', '--tail=20'],
            { env },
          )
        : undefined;
      const state = reasons
        .map((r) => `${r.pod.metadata.name}: ${r.pod.status.phase ?? '?'} ${r.text}`.trim())
        .join('\n');
      throw new Error(
        `pods ${namespace}/${selector}: ${ready.length}/${Math.max(count, live.length)} Ready\n${state}\n` +
          (crashed
            ? `last output of ${stuck?.pod.metadata.name}:\n${crashed.stdout}${crashed.stderr}\n`
            : '') +
          events.stdout.slice(-3000),
      );
    }
    await sleep(500);
  }
}

export interface PodOptions {
  namespace: string;
  name: string;
  image: string;
  labels?: Record<string, string>;
  command?: string[];
  args?: string[];
  /** Container securityContext (runAsUser, seccompProfile, …). */
  securityContext?: Record<string, unknown>;
  /** Pod securityContext. */
  podSecurityContext?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  /** A TCP port the readiness probe checks; without it the pod is Ready once its container runs. */
  readyPort?: number;
  /** A command the readiness probe runs in the container instead (an exec probe). */
  readyExec?: string[];
  /** terminationGracePeriodSeconds (default 2: tests' pods stop quickly). */
  grace?: number;
  /** Mount paths, an emptyDir each. */
  emptyDirs?: string[];
  restartPolicy?: 'Always' | 'Never';
}

/** The pod spec PodOptions describe (one container, "main"), for manifests built around it. */
export function podSpec(o: PodOptions) {
  const volumes = (o.emptyDirs ?? []).map((mountPath, i) => ({ name: `scratch-${i}`, mountPath }));
  return {
    terminationGracePeriodSeconds: o.grace ?? 2,
    ...(o.restartPolicy ? { restartPolicy: o.restartPolicy } : {}),
    ...(volumes.length ? { volumes: volumes.map((v) => ({ name: v.name, emptyDir: {} })) } : {}),
    ...(o.podSecurityContext ? { securityContext: o.podSecurityContext } : {}),
    containers: [
      {
        name: 'main',
        image: o.image,
        ...(o.command ? { command: o.command } : {}),
        ...(o.args ? { args: o.args } : {}),
        ...(o.securityContext ? { securityContext: o.securityContext } : {}),
        ...(o.resources ? { resources: o.resources } : {}),
        ...(volumes.length ? { volumeMounts: volumes } : {}),
        ...(o.readyPort
          ? {
              ports: [{ containerPort: o.readyPort }],
              readinessProbe: { tcpSocket: { port: o.readyPort }, periodSeconds: 1 },
            }
          : {}),
        ...(o.readyExec ? { readinessProbe: { exec: { command: o.readyExec }, periodSeconds: 1 } } : {}),
      },
    ],
  };
}

/** A bare Pod (container name "main"), Ready. */
export async function runKubePod(o: PodOptions, timeoutMs?: number): Promise<KubePod> {
  const labels = { ...o.labels, 'harden.dev/test-pod': o.name };
  await apply([
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: o.name, namespace: o.namespace, labels },
      spec: podSpec(o),
    },
  ]);
  const [pod] = await waitPodsReady(o.namespace, `harden.dev/test-pod=${o.name}`, { timeoutMs });
  return pod;
}

/** A Deployment (label app=<name>, container "main") and, with `port`, a Service of the same name. */
export async function runDeployment(
  o: PodOptions & { replicas?: number; port?: number },
  timeoutMs?: number,
): Promise<KubePod[]> {
  const labels = { app: o.name, ...o.labels };
  const objects: object[] = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: o.name, namespace: o.namespace, labels },
      spec: {
        replicas: o.replicas ?? 1,
        selector: { matchLabels: { app: o.name } },
        template: { metadata: { labels }, spec: podSpec({ ...o, readyPort: o.readyPort ?? o.port }) },
      },
    },
  ];
  if (o.port) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: o.name, namespace: o.namespace, labels },
      spec: { selector: { app: o.name }, ports: [{ port: 80, targetPort: o.port, protocol: 'TCP' }] },
    });
  }
  await apply(objects);
  return waitPodsReady(o.namespace, `app=${o.name}`, { count: o.replicas ?? 1, timeoutMs });
}

/** `kubectl exec` into a pod's container; never throws on the command's exit code. */
export function execInKubePod(
  namespace: string,
  pod: string,
  command: string[],
  opts: { container?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const args = ['exec', ...(opts.input !== undefined ? ['-i'] : []), '-n', namespace, pod];
  if (opts.container) args.push('-c', opts.container);
  return runRaw('kubectl', [...args, '--', ...command], {
    env: testenvEnv().processEnv,
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}

export async function kubePodLogs(namespace: string, pod: string, container?: string): Promise<string> {
  return kubectl(['logs', '-n', namespace, pod, ...(container ? ['-c', container] : [])]);
}

/** The bare container id of a pod's container (the part after "containerd://"). */
export function containerIdOf(pod: KubePod, container = 'main'): string {
  const s = pod.status.containerStatuses?.find((c) => c.name === container);
  const id = s?.containerID?.replace(/^[a-z-]+:\/\//, '');
  if (!id)
    throw new Error(
      `pod ${pod.metadata.namespace}/${pod.metadata.name}: container ${container} has no ID yet`,
    );
  return id;
}

/** Deletes objects by kind/name and waits until they are gone (pods: kubelet confirmed the kill). */
export async function deleteObjects(
  namespace: string,
  kindNames: string[],
  timeoutMs = 60_000,
): Promise<void> {
  if (kindNames.length === 0) return;
  await kubectl(['delete', '-n', namespace, ...kindNames, '--ignore-not-found', '--wait=true'], {
    timeoutMs,
  });
}

/** Deletes a namespace and everything in it, waiting until it is gone. */
export async function deleteNamespace(namespace: string, timeoutMs = 120_000): Promise<void> {
  await kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true'], { timeoutMs });
}

/** kubelet's seccomp root on the test node (scripts/testenv/testenv runs kubelet with its default root). */
export const SECCOMP_ROOT = '/var/lib/kubelet/seccomp';

/**
 * Puts a profile where kubelet looks for `seccompProfile: {type: Localhost}`, as an operator does on
 * each node, and returns that securityContext field.
 */
export function installSeccompProfile(
  relPath: string,
  profile: unknown,
): { type: 'Localhost'; localhostProfile: string } {
  const file = path.join(SECCOMP_ROOT, relPath);
  if (path.relative(SECCOMP_ROOT, file).startsWith('..'))
    throw new Error(`${relPath} is outside ${SECCOMP_ROOT}`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(profile, null, 2));
  fs.renameSync(`${file}.tmp`, file);
  return { type: 'Localhost', localhostProfile: relPath };
}

export function removeSeccompProfile(relPath: string): void {
  fs.rmSync(path.join(SECCOMP_ROOT, relPath), { force: true });
}

/**
 * `curl --connect-timeout <s> <url>` from a client pod (the curl image): the HTTP status code, or
 * `exit <code>` when curl failed (28: timed out, as a dropped connection does), with curl's stderr.
 */
export async function curlFrom(
  namespace: string,
  pod: string,
  url: string,
  connectTimeoutS = 1,
  timeout: string[] = ['--connect-timeout', String(connectTimeoutS)],
): Promise<{ status: string; stderr: string }> {
  const r = await execInKubePod(namespace, pod, [
    'curl',
    '-sS',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    ...timeout,
    url,
  ]);
  return { status: r.code === 0 ? r.stdout : `exit ${r.code}`, stderr: r.stderr };
}
