// The agent as users run it: `kubectl harden deploy --image <local registry image>`, then the
// DaemonSet pod that kubelet starts from that image, Ready through its own readiness probe.
import * as fs from 'node:fs';
import { harden } from './cluster';
import { kubectl, kubectlJson, runRaw } from './exec';
import { testenvEnv } from './env';
import { containerIdOf, testImage, waitPodsReady, type KubePod } from './kube-pods';

export const AGENT_NAMESPACE = 'harden-system';
export const AGENT_SELECTOR = 'app.kubernetes.io/name=harden-agent';

export interface Deployed {
  /** `deploy` (with --wait) until it returned: the rollout until the pod was Ready. */
  readyMs: number;
  /** Whether an agent was deployed before (then it is left deployed at the end). */
  wasDeployed: boolean;
}

async function isDeployed(): Promise<boolean> {
  const r = await runRaw('kubectl', ['get', 'daemonset', 'harden-agent', '-n', AGENT_NAMESPACE], {
    env: testenvEnv().processEnv,
  });
  return r.code === 0;
}

/** `kubectl harden deploy --image $HARDEN_AGENT_IMAGE` until the agent pod is Ready; fails with stderr. */
export async function deployAgent(extra: string[] = []): Promise<Deployed> {
  const wasDeployed = await isDeployed();
  const t0 = process.hrtime.bigint();
  const r = await harden(['deploy', '--image', testImage('agent'), '--timeout', '180s', ...extra]);
  const readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.code !== 0) throw new Error(`kubectl harden deploy -> ${r.code}\n${r.stderr}`);
  return { readyMs, wasDeployed };
}

/** Leaves the cluster as the test found it: undeployed unless an agent was there before. */
export async function restoreAgent(d: Deployed | undefined): Promise<void> {
  if (d?.wasDeployed) return;
  await harden(['undeploy', '--force', '--timeout', '120s']);
}

/** The one Ready agent pod (the test node is the only node). */
export async function agentPod(timeoutMs = 120_000): Promise<KubePod> {
  const [pod] = await waitPodsReady(AGENT_NAMESPACE, AGENT_SELECTOR, { timeoutMs });
  return pod;
}

/** kubelet's cgroupfs layout in cgroup v2: kubepods[/<qos>]/pod<uid>/<container id>. */
export function containerCgroupDir(pod: KubePod, container = 'main'): string {
  const qos = (pod.status.qosClass ?? 'BestEffort').toLowerCase();
  const podDir = `pod${pod.metadata.uid}`;
  const parts = qos === 'guaranteed' ? ['kubepods', podDir] : ['kubepods', qos, podDir];
  return ['/sys/fs/cgroup/unified', ...parts, containerIdOf(pod, container)].join('/');
}

/** The host pids in a container's cgroup (the agent runs with hostPID, so its bpftrace is there too). */
export function cgroupPids(dir: string): number[] {
  return fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean).map(Number);
}

/**
 * What follows the program file on the command line of each bpftrace the agent pod runs: the
 * program's positional parameters (Program.args).
 */
export function agentProgramParams(agent: KubePod): string[][] {
  return cgroupPids(containerCgroupDir(agent, 'agent')).flatMap((pid) => {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
    } catch {
      return []; // exited since cgroup.procs was read
    }
    const file = argv.findIndex((a) => a.endsWith('.bt'));
    return file < 0 ? [] : [argv.slice(file + 1)];
  });
}

export async function getAgentPods(): Promise<KubePod[]> {
  return (
    await kubectlJson<{ items: KubePod[] }>(['get', 'pods', '-n', AGENT_NAMESPACE, '-l', AGENT_SELECTOR])
  ).items;
}

/** Patches the agent DaemonSet's pod template, as an operator or an admission policy would. */
export async function patchAgentTemplate(type: 'merge' | 'json', patch: unknown): Promise<void> {
  await runRaw(
    'kubectl',
    [
      'patch',
      'daemonset',
      'harden-agent',
      '-n',
      AGENT_NAMESPACE,
      `--type=${type}`,
      '-p',
      JSON.stringify(patch),
    ],
    { env: testenvEnv().processEnv },
  ).then((r) => {
    if (r.code !== 0) throw new Error(`kubectl patch daemonset harden-agent: ${r.stderr}`);
  });
}

/** The agent pod's whole log, or its last `tail` lines. */
export async function agentLog(tail?: number): Promise<string> {
  const pod = await agentPod();
  return kubectl(['logs', '-n', AGENT_NAMESPACE, pod.metadata.name, ...(tail ? [`--tail=${tail}`] : [])]);
}
