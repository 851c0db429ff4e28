// The agent under faults, as a user meets them: the agent is the DaemonSet pod `deploy` installs
// (from HARDEN_AGENT_IMAGE), workloads are real pods from real images run by kubelet + containerd,
// and every check goes through kubectl or `kubectl harden`. Sizes are env-overridable so a smaller
// run can come first: HARDEN_ROBUST_CHURN_PODS (300), HARDEN_ROBUST_SHORT_PODS (200),
// HARDEN_ROBUST_HANG_SECONDS (90), HARDEN_ROBUST_IDLE_SECONDS (30).
import { sessionWithRecords } from './session-object';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { harden } from './cluster';
import { eventually } from './eventually';
import { kubectl, kubectlJson } from './exec';
import { deleteNamespace, ensureNamespace, testImage } from './kube-pods';

export const NS = 'e2e-robust';
export const CURL = process.env.HARDEN_IMAGE_CURL ?? '127.0.0.1:5000/curl:latest';
export const size = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
export const CHURN = size('HARDEN_ROBUST_CHURN_PODS', 300);
export const SHORT = size('HARDEN_ROBUST_SHORT_PODS', 200);
export const HANG_S = size('HARDEN_ROBUST_HANG_SECONDS', 90);
export const IDLE_S = size('HARDEN_ROBUST_IDLE_SECONDS', 30);
/** Pods of the warm-up churn before the memory baseline. */
export const WARM = 30;
/** The agent's flush interval as `deploy` sets it (--flush-interval 3). */
export const FLUSH_S = 3;
/** mknodat, which coreutils' mkfifo makes and nothing else in these pods does. */
export const MKNODAT: Record<string, number> = { amd64: 259, arm64: 33 };
/** What coreutils' mkdir and rmdir call: arm64 has only the *at forms. */
export const MKDIR: Record<string, string> = { amd64: 'mkdir', arm64: 'mkdirat' };
export const RMDIR: Record<string, string> = { amd64: 'rmdir', arm64: 'unlinkat' };

export const namesOf = (profile: string): string[] =>
  (JSON.parse(profile) as { syscalls: { names: string[] }[] }).syscalls[0].names;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const report = (line: string) => process.stdout.write(`${line}\n`);

/** Polls the cluster until `ok` holds; fails naming what was awaited and what was last seen. */
export const until = <T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, withinMs = 60_000) =>
  eventually(probe, ok, { what, withinMs, everyMs: 500 });

export async function ok(args: string[], timeoutMs?: number): Promise<string> {
  const r = await harden(args, { timeoutMs });
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r.stdout;
}

// --- the cluster's objects ---------------------------------------------------------------------

export interface Gap {
  from: string;
  to: string;
  reason: string;
}
export interface Container {
  pod: string;
  container: string;
  syscalls: number[];
  recordedFromStart: boolean;
  gaps?: Gap[];
}
export interface SessionObject {
  metadata: { resourceVersion: string };
  status?: {
    nodes?: {
      node: string;
      arch: string;
      phase?: string;
      final: boolean;
      containers: Container[];
      gaps?: Gap[];
    }[];
  };
}

export const sessionObject = (id: string) => sessionWithRecords<SessionObject>(NS, id);
export const containersOf = (s: SessionObject) => s.status?.nodes?.flatMap((n) => n.containers) ?? [];

/** The test node's name, set by robustHooks(). */
let node = '';
export const testNode = () => node;

export function podManifest(name: string, labels: Record<string, string>, script: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      containers: [
        { name: 'main', image: CURL, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script] },
      ],
    },
  };
}

export async function createPods(pods: object[]): Promise<void> {
  await kubectl(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }),
  });
}

/**
 * Pods in batches, each batch created at once, waited for until every pod has run to its end, then
 * deleted: the life of Job pods, as fast as the node runs them.
 */
export async function runBatches(
  total: number,
  batch: number,
  make: (i: number) => ReturnType<typeof podManifest>,
  batchLabel: string,
): Promise<void> {
  for (let start = 0; start < total; start += batch) {
    const items = [];
    for (let i = start; i < Math.min(total, start + batch); i++) {
      const p = make(i);
      items.push({
        ...p,
        metadata: { ...p.metadata, labels: { ...p.metadata.labels, [batchLabel]: String(start) } },
      });
    }
    await createPods(items);
    await kubectl(
      [
        'wait',
        '-n',
        NS,
        '--for=jsonpath={.status.phase}=Succeeded',
        'pod',
        '-l',
        `${batchLabel}=${start}`,
        '--timeout=180s',
      ],
      { timeoutMs: 200_000 },
    );
    await kubectl(['delete', 'pod', '-n', NS, '-l', `${batchLabel}=${start}`, '--wait=false']);
  }
}

// --- the agent's process on the host (hostPID) ---------------------------------------------------

export async function agentPod(): Promise<{ name: string; uid: string }> {
  const list = await kubectlJson<{
    items: { metadata: { name: string; uid: string }; spec: { nodeName?: string } }[];
  }>(['get', 'pods', '-n', 'harden-system', '-l', 'app.kubernetes.io/name=harden-agent']);
  const pod = list.items.find((p) => p.spec.nodeName === node);
  if (!pod) throw new Error(`no agent pod on node ${node}`);
  return pod.metadata;
}

export const read = (f: string) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};

/** The agent's node process: its command line names the bundle, its cgroup the agent pod's UID. */
export async function agentPid(): Promise<number> {
  const { uid } = await agentPod();
  const forms = [uid, uid.replace(/-/g, '_')];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    if (!read(`/proc/${d}/cmdline`).includes('harden-agent')) continue;
    if (read(`/proc/${d}/comm`).trim() !== 'node') continue;
    const cg = read(`/proc/${d}/cgroup`);
    if (forms.some((f) => cg.includes(f))) return Number(d);
  }
  throw new Error(`no node process of the agent pod (uid ${uid}) on this host`);
}

/** VmRSS (all resident memory) or one part of it, e.g. RssAnon (heap, not the binary's pages). */
export const rssKiB = (pid: number, field = 'VmRSS') =>
  Number(new RegExp(`${field}:\\s+(\\d+)`).exec(read(`/proc/${pid}/status`))?.[1] ?? NaN);

/** The agent's bpftrace children (setpriv execs bpftrace, so they are direct children). */
export function bpftraces(pid: number): number[] {
  const tasks = existsSync(`/proc/${pid}/task`) ? readdirSync(`/proc/${pid}/task`) : [];
  return tasks
    .flatMap((t) => read(`/proc/${pid}/task/${t}/children`).trim().split(/\s+/).filter(Boolean))
    .map(Number)
    .filter((c) => read(`/proc/${c}/comm`).trim() === 'bpftrace');
}

/** Samples the agent's RSS and its bpftrace count until stopped. */
export function sampler(pid: number) {
  let maxRss = 0;
  let maxPrograms = 0;
  const timer = setInterval(() => {
    maxRss = Math.max(maxRss, rssKiB(pid) || 0);
    maxPrograms = Math.max(maxPrograms, bpftraces(pid).length);
  }, 250);
  return {
    stop: () => {
      clearInterval(timer);
      return { maxRss, maxPrograms };
    },
  };
}

export async function agentLogs(): Promise<string> {
  const { name } = await agentPod();
  return kubectl(['logs', '-n', 'harden-system', name, '--tail=2000']);
}

export const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

// -------------------------------------------------------------------------------------------------

/** The files' shared set-up: the namespace and the agent deployed from its image, removed after. */
export function robustHooks(): void {
  beforeAll(async () => {
    node = (await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
    await ensureNamespace(NS);
    await ok(['deploy', '--image', testImage('agent'), '--timeout', '180s'], 240_000);
  }, 300_000);

  afterAll(async () => {
    await deleteNamespace(NS);
    await harden(['undeploy', '--force']);
  }, 300_000);
}
