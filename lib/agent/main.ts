/**
 * The agent process: finds the node's cgroup2 mount, its bpftrace and what its kernel serves,
 * publishes that for `kubectl harden status`, and runs the session controller with the recorders
 * of the registry until SIGTERM. The composition root: the one place core and recorders meet.
 */
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kube } from '../kube/client';
import { inClusterContext } from '../kube/incluster';
import { resolveContext } from '../kube/kubeconfig';
import { DEFAULT_KUBELET_ROOT, READY_FILE, SECCOMP_MOUNT } from '../session/agent-names';
import { VERSION } from '../version';
import { CgroupLayout, detectDriver, findCgroup2Mount } from './core/cgroups';
import { Controller } from './core/controller';
import { DIALECTS, probeBpftrace, SUPPORTED } from './core/dialect';
import { DENY_ENV, nodeSources, parseDenyList, probeKernel } from './core/kernel';
import { nodeReport, publishNodeReport } from './core/node-report';
import { effectiveCaps, missingTracingCaps } from './core/process-caps';
import { kernelNeeds } from './core/support';
import { InstallController } from './installs/controller';
import { openProfileStore } from './installs/store';
import { RECORDERS } from './recorders';

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

export interface AgentArgs {
  node: string;
  flushSeconds: number;
  intervalMs: number;
  /** kubelet's --root-dir on this node; its seccomp/ is mounted at SECCOMP_MOUNT. */
  kubeletRoot: string;
}

export function parseAgentArgs(argv: string[], env: NodeJS.ProcessEnv): AgentArgs {
  const args: AgentArgs = {
    node: env.NODE_NAME ?? '',
    flushSeconds: 3,
    intervalMs: 1000,
    kubeletRoot: DEFAULT_KUBELET_ROOT,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i];
    if (flag === '--node') args.node = value();
    else if (flag === '--flush-interval') args.flushSeconds = Number(value());
    else if (flag === '--interval-ms') args.intervalMs = Number(value());
    else if (flag === '--kubelet-root') args.kubeletRoot = value();
    else
      throw new Error(
        `unknown flag ${argv[i]} (known: --node, --flush-interval SECONDS, --interval-ms MS, --kubelet-root DIR)`,
      );
  }
  if (!args.node)
    throw new Error('no node name: pass --node or set NODE_NAME (the DaemonSet sets it from spec.nodeName)');
  if (!(args.flushSeconds > 0)) throw new Error('--flush-interval must be a positive number of seconds');
  return args;
}

const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} ${msg}\n`);

export async function runAgent(argv: string[]): Promise<number> {
  const args = parseAgentArgs(argv, process.env);
  const ctx = process.env.KUBECONFIG ? resolveContext({}) : inClusterContext();
  const kube = await Kube.fromContext(ctx, 30_000);
  const mount = findCgroup2Mount();
  const layout = new CgroupLayout(mount, detectDriver(mount.mountPoint) ?? 'systemd');
  const bpftrace = await probeBpftrace('bpftrace', parseDenyList(process.env[DENY_ENV]));
  const arch = GOARCH[process.arch] ?? process.arch;
  log(
    `harden-agent ${VERSION} on node ${args.node}: cgroup2 at ${mount.mountPoint} (${layout.driver} driver), ${bpftrace.version}`,
  );
  if (bpftrace.dialect) {
    const regs = bpftrace.dialect.userRegs;
    log(
      `bpftrace programs for the ${bpftrace.dialect.series} series (supported: ${SUPPORTED}); ` +
        (regs === undefined
          ? 'user registers not located: capability checks take their syscall from a probe on every syscall'
          : `user registers saved at stack + ${regs}`),
    );
  }
  // Still serves: every session on this node then says why nothing is traced (BpftraceReady=False).
  else log(`cannot trace: ${bpftrace.problem?.message}`);
  const caps = effectiveCaps(readFileSync('/proc/self/status', 'utf8'));
  const privilegeProblem = caps === undefined ? undefined : missingTracingCaps(caps);
  if (privilegeProblem) log(privilegeProblem);

  // Asked at every start: a DaemonSet restart may find the node on another kernel.
  const traits = { node: args.node, arch, dialect: bpftrace.dialect ?? DIALECTS[DIALECTS.length - 1] };
  const needs = kernelNeeds(RECORDERS, traits);
  const sources = nodeSources(process.env, bpftrace.fentry);
  if (sources.deny.length) log(`probes deny-listed by ${DENY_ENV}: ${sources.deny.join(', ')}`);
  const kernel = probeKernel(sources, needs.probes, needs.members);
  const controller = new Controller(kube, {
    node: args.node,
    arch,
    bpftrace,
    recorders: RECORDERS,
    kernel,
    layout,
    flushMs: args.flushSeconds * 1000,
    intervalMs: args.intervalMs,
    log,
    privilegeProblem,
  });
  for (const s of controller.support.values()) {
    const { type } = s.recorder;
    log(s.route ? `${type} sessions: ${s.route.name} route` : `${type} sessions refused: ${s.message}`);
  }
  const report = nodeReport(
    { node: args.node, arch, agentVersion: VERSION },
    kernel,
    bpftrace,
    controller.support,
  );
  const { POD_NAME: name, POD_UID: uid } = process.env;
  // `status` shows less without it; tracing does not depend on it.
  await publishNodeReport(kube, report, name && uid ? { name, uid } : undefined).catch((e: Error) =>
    log(`cannot publish the node report: ${e.message}`),
  );
  const { store, problem } = openProfileStore(args.kubeletRoot, SECCOMP_MOUNT);
  log(
    problem
      ? `cannot install seccomp profiles: ${problem}`
      : `seccomp profiles go to ${args.kubeletRoot}/seccomp`,
  );
  const installs = new InstallController(kube, { node: args.node, arch, store, problem, log });
  // Tracing does not depend on it: an agent newer than the cluster's CRD or RBAC still traces.
  await installs.start().catch((e: Error) => log(`seccomp profile installs unavailable: ${e.message}`));
  await controller.start();
  try {
    mkdirSync(dirname(READY_FILE), { recursive: true });
    writeFileSync(READY_FILE, `${VERSION}\n`);
  } catch (e) {
    log(`cannot write ${READY_FILE}: ${(e as Error).message}`);
  }
  log('ready');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log('stopping: last flush');
  rmSync(READY_FILE, { force: true });
  await installs.close();
  await controller.close();
  return 0;
}
