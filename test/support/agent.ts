// Runs the node agent as a host process standing in for the DaemonSet pod on harden-node: it gets the
// harden-agent ServiceAccount's token (TokenRequest), so it has exactly the RBAC `deploy` installed,
// and the DaemonSet pod is bound and marked Running/Ready the way a scheduler and kubelet would.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_IP, REPO_ROOT } from './cluster';
import { testenvEnv } from './env';
import { kubectl, kubectlJson, runRaw } from './exec';

export const AGENT_NAMESPACE = 'harden-system';
export const AGENT_SERVICE_ACCOUNT = 'harden-agent';
export const AGENT_LABEL = 'app.kubernetes.io/name=harden-agent';

interface PodObject {
  metadata: { name: string; creationTimestamp?: string; deletionTimestamp?: string };
  spec: {
    nodeName?: string;
    containers: { name: string; image: string }[];
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: {
          nodeSelectorTerms?: { matchFields?: { key: string; values?: string[] }[] }[];
        };
      };
    };
  };
}

export interface AgentOptions {
  node?: string;
  /** Extra environment for the agent process. */
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the DaemonSet controller to create the pod, when the DaemonSet exists. */
  podWaitMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Agents still running when the test process exits (a failed test that never reached stop()) are
// killed with it; only synchronous work is possible in an 'exit' handler.
const live = new Map<ChildProcess, string>(); // process -> its pid file
process.once('exit', () => {
  for (const [c, pidFile] of live) {
    c.kill('SIGKILL');
    fs.rmSync(pidFile, { force: true });
  }
});

/** Is this (DaemonSet) pod meant for `node`: bound to it, or pinned by the DaemonSet's matchFields affinity. */
function podIsForNode(p: PodObject, node: string): boolean {
  if (p.spec.nodeName) return p.spec.nodeName === node;
  const terms =
    p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms.some((t) =>
    (t.matchFields ?? []).some((f) => f.key === 'metadata.name' && f.values?.includes(node)),
  );
}

export class Agent {
  readonly node: string;
  readonly logFile: string;
  readonly kubeconfig: string;
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private restarts = 0;
  private readonly pidFile: string;

  constructor(private readonly opts: AgentOptions = {}) {
    const { state } = testenvEnv();
    this.node = opts.node ?? 'harden-node';
    const dir = path.join(state, 'agent');
    fs.mkdirSync(dir, { recursive: true });
    this.logFile = path.join(state, 'logs', `harden-agent-${this.node}.log`);
    this.kubeconfig = path.join(dir, `${this.node}.kubeconfig`);
    // testenv down kills whatever pid files name, so a crashed test run leaves no agent behind.
    this.pidFile = path.join(state, 'pids', `harden-agent-${this.node}.pid`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Mints the token, writes the kubeconfig, starts the process and marks the DaemonSet pod ready. */
  async start(): Promise<this> {
    if (this.running) throw new Error('agent already running');
    await this.writeKubeconfig();
    fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
    const fd = fs.openSync(this.logFile, 'a');
    fs.writeSync(fd, `--- agent start ${new Date().toISOString()} ---\n`);
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'harden-agent.cjs')], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.opts.env, KUBECONFIG: this.kubeconfig, NODE_NAME: this.node },
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    this.child = child;
    live.set(child, this.pidFile);
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        live.delete(child);
        resolve();
      }),
    );
    if (child.pid === undefined) throw new Error('could not spawn the agent');
    fs.mkdirSync(path.dirname(this.pidFile), { recursive: true });
    fs.writeFileSync(this.pidFile, `${child.pid}\n`);
    await this.markPodReady(child.pid);
    return this;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return this.forget();
    child.kill('SIGTERM');
    const timedOut = await Promise.race([this.exited!.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      child.kill('SIGKILL');
      await this.exited;
    }
    this.forget();
  }

  /** Abrupt death (no cleanup in the agent): what a node crash or OOM kill looks like. */
  async kill9(): Promise<void> {
    if (this.child && this.running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    this.forget();
  }

  async restart(): Promise<this> {
    await this.stop();
    this.restarts++;
    return this.start();
  }

  logs(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
  }

  /** Resolves with the exit code when the process ends (null if killed by a signal). */
  async waitForExit(): Promise<number | null> {
    await this.exited;
    return this.child?.exitCode ?? null;
  }

  private forget(): void {
    fs.rmSync(this.pidFile, { force: true });
  }

  private async writeKubeconfig(): Promise<void> {
    const token = (
      await kubectl(['create', 'token', AGENT_SERVICE_ACCOUNT, '-n', AGENT_NAMESPACE, '--duration=1h']).catch(
        (e: Error) => {
          throw new Error(
            `no token for ServiceAccount ${AGENT_NAMESPACE}/${AGENT_SERVICE_ACCOUNT} (did \`kubectl harden deploy\` run?): ${e.message}`,
          );
        },
      )
    ).trim();
    const admin = await kubectlJson<{
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    }>(['config', 'view', '--raw', '--minify']);
    const cluster = admin.clusters[0].cluster;
    const cfg = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'harden-local', cluster }],
      users: [{ name: `system:serviceaccount:${AGENT_NAMESPACE}:${AGENT_SERVICE_ACCOUNT}`, user: { token } }],
      contexts: [
        {
          name: 'harden-agent',
          context: {
            cluster: 'harden-local',
            user: `system:serviceaccount:${AGENT_NAMESPACE}:${AGENT_SERVICE_ACCOUNT}`,
            namespace: AGENT_NAMESPACE,
          },
        },
      ],
      'current-context': 'harden-agent',
    };
    // kubectl reads JSON kubeconfigs too; 0600 because it holds a bearer token.
    fs.writeFileSync(this.kubeconfig, JSON.stringify(cfg, null, 2), { mode: 0o600 });
  }

  /** Finds this node's DaemonSet pod (waiting for the controller when the DaemonSet exists). */
  private async findPod(): Promise<PodObject | undefined> {
    const env = testenvEnv().processEnv;
    const ds = await runRaw(
      'kubectl',
      ['get', 'daemonset', '-n', AGENT_NAMESPACE, '-l', AGENT_LABEL, '-o', 'name'],
      {
        env,
      },
    );
    const haveDaemonSet = ds.code === 0 && ds.stdout.trim() !== '';
    const deadline = Date.now() + (haveDaemonSet ? (this.opts.podWaitMs ?? 20_000) : 0);
    for (;;) {
      const list = await kubectlJson<{ items: PodObject[] }>([
        'get',
        'pods',
        '-n',
        AGENT_NAMESPACE,
        '-l',
        AGENT_LABEL,
      ]);
      const pod = list.items.find((p) => !p.metadata.deletionTimestamp && podIsForNode(p, this.node));
      if (pod || Date.now() >= deadline) return pod;
      await sleep(250);
    }
  }

  /** What the scheduler (binding) and kubelet (status) would do for the DaemonSet pod. */
  private async markPodReady(pid: number): Promise<void> {
    const pod = await this.findPod();
    if (!pod) return;
    const name = pod.metadata.name;
    if (!pod.spec.nodeName) {
      const binding = {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name, namespace: AGENT_NAMESPACE },
        target: { apiVersion: 'v1', kind: 'Node', name: this.node },
      };
      await kubectl(
        ['create', '--raw', `/api/v1/namespaces/${AGENT_NAMESPACE}/pods/${name}/binding`, '-f', '-'],
        {
          input: JSON.stringify(binding),
        },
      );
    }
    const t = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const cond = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: t });
    const status = {
      phase: 'Running',
      hostIP: NODE_IP,
      hostIPs: [{ ip: NODE_IP }],
      podIP: NODE_IP,
      podIPs: [{ ip: NODE_IP }],
      startTime: pod.metadata.creationTimestamp ?? t,
      conditions: [
        'PodReadyToStartContainers',
        'Initialized',
        'Ready',
        'ContainersReady',
        'PodScheduled',
      ].map(cond),
      containerStatuses: pod.spec.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imageID: c.image,
        containerID: `containerd://agent-${pid}`,
        ready: true,
        started: true,
        restartCount: this.restarts,
        state: { running: { startedAt: t } },
      })),
    };
    await kubectl([
      'patch',
      'pod',
      name,
      '-n',
      AGENT_NAMESPACE,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status }),
    ]);
  }
}

/** Starts the agent for a node (default harden-node). */
export function startAgent(opts: AgentOptions = {}): Promise<Agent> {
  return new Agent(opts).start();
}
