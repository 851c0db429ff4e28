/**
 * `seccomp apply KIND/NAME --profile NAME`: the workload's pods run under an installed profile.
 * Refused unless every node its pods may land on holds the profile's current digest (a pod on a
 * node without the file would not start); the change is printed on stderr before it is made.
 */
import { HardenError } from '../errors';
import { ApiError } from '../kube/client';
import type { List } from '../kube/objects';
import { R, resourcePath } from '../kube/paths';
import {
  nodesLacking,
  parseWorkloadRef,
  schedulableNodes,
  seccompPatch,
  type ApplyKind,
  type NodeInfo,
  type PodSpec,
} from '../seccomp/apply';
import { InstallError, localhostProfile, type SeccompProfileInstall } from '../seccomp/install';
import type { LabelSelector } from '../labels';
import { deleteSession } from '../session/client';
import type { Deps } from './context';
import { armAudit, endAudit } from './seccomp-audit-run';
import { toJson } from './output';

export interface ApplyOptions {
  workload: string;
  profile: string;
  container?: string;
  dryRun: 'none' | 'client' | 'server';
}

interface Workload {
  metadata: { name: string; generation?: number };
  spec: {
    selector?: LabelSelector;
    template: { metadata?: { annotations?: Record<string, string> }; spec: PodSpec };
  };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

const REFS: Record<ApplyKind, typeof R.deployments> = {
  Deployment: R.deployments,
  StatefulSet: R.statefulsets,
  DaemonSet: R.daemonsets,
};

export async function runApply(opts: ApplyOptions, deps: Deps): Promise<void> {
  const { kube, io } = deps;
  const ns = kube.namespace;
  const at = `in namespace "${ns}" (context "${kube.ctx.context}")`;
  const { kind, name } = parseWorkloadRef(opts.workload);
  const label = `${kind.toLowerCase()}.apps/${name}`;
  const path = resourcePath(REFS[kind], { namespace: ns, name });
  const workload = await kube.getOptional<Workload>(path);
  if (!workload)
    throw new HardenError(
      `${label} not found ${at}`,
      `List them with: kubectl get ${kind.toLowerCase()} -n ${ns}`,
    );
  const install = await kube.getOptional<SeccompProfileInstall>(
    resourcePath(R.seccompprofileinstalls, { namespace: ns, name: opts.profile }),
  );
  if (!install)
    throw new HardenError(
      `seccomp profile "${opts.profile}" is not installed ${at}`,
      `Install it first: kubectl harden seccomp install FILE --name ${opts.profile} -n ${ns}`,
    );
  const stuck = workload.status?.conditions?.find(
    (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
  );
  if (stuck)
    throw new HardenError(
      `${label} ${at} has a stuck rollout (${stuck.message ?? stuck.reason}); a new template would stack on it; nothing was changed`,
      `See: kubectl rollout status ${kind.toLowerCase()}/${name} -n ${ns}; fix or undo it first (kubectl rollout undo)`,
    );
  const spec = workload.spec.template.spec;
  let nodes: List<NodeInfo>;
  try {
    nodes = await kube.get<List<NodeInfo>>(resourcePath(R.nodes));
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 403)
      throw new HardenError(
        `cannot list nodes (context "${kube.ctx.context}"): forbidden; apply checks that every node ${label} may run on holds the profile`,
      );
    throw e;
  }
  const targets = schedulableNodes(spec, nodes.items);
  if (!targets.length)
    throw new HardenError(
      `no node of context "${kube.ctx.context}" can run the pods of ${label} (node selector, affinity, taints); nothing was changed`,
    );
  const lacking = nodesLacking(install, targets);
  if (lacking.length)
    throw new HardenError(
      `seccomp profile "${opts.profile}" is not installed on every node ${label} ${at} may run on: ${lacking.join(', ')}; nothing was changed`,
      `See: kubectl harden seccomp installed -n ${ns}; reinstall with kubectl harden seccomp install FILE --name ${opts.profile} -n ${ns}`,
    );
  let built;
  try {
    built = seccompPatch(
      kind,
      workload.spec.template,
      { localhostProfile: localhostProfile(ns, opts.profile), digest: install.spec.digest },
      opts.container,
    );
  } catch (e) {
    if (e instanceof InstallError) throw new HardenError(`${label} ${at}: ${e.message}`);
    throw e;
  }
  for (const w of built.warnings) io.err(w);
  for (const c of built.changes) io.err(c);
  if (opts.dryRun === 'client') {
    io.out(built.patch ? toJson(built.patch) : `${label} unchanged\n`);
    return;
  }
  // The audit variant: its session traces the workload's pods before the first new one starts.
  const ref = `${kind.toLowerCase()}/${name}`;
  const audit = install.spec.mode === 'Audit' && opts.dryRun === 'none';
  const armed = audit
    ? await armAudit(deps, {
        install,
        workload: ref,
        selector: workload.spec.selector,
        container: opts.container,
      })
    : undefined;
  if (!built.patch) {
    io.out(`${label} unchanged\n`);
  } else {
    try {
      await kube.request('PATCH', path, {
        body: built.patch,
        contentType: 'application/strategic-merge-patch+json',
        query: { fieldManager: 'kubectl-harden', dryRun: opts.dryRun === 'server' ? 'All' : undefined },
      });
    } catch (e) {
      if (armed) await deleteSession(kube, ns, armed.metadata.name).catch(() => undefined);
      throw e;
    }
    io.out(`${label} patched${opts.dryRun === 'server' ? ' (server dry run)' : ''}\n`);
  }
  if (install.spec.mode === 'Enforce' && opts.dryRun === 'none') await endAudit(kube, io, opts.profile, ref);
  if (!built.patch) return;
  if (opts.dryRun === 'none')
    io.err(
      `the pods restart under ${install.spec.mode === 'Audit' ? 'the audit variant of ' : ''}the profile; follow with: kubectl rollout status ${kind.toLowerCase()}/${name} -n ${ns}`,
    );
}
