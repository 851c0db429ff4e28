/**
 * `kubectl harden apply -f DIR`: puts what `record` wrote in force, workload by workload — its
 * seccomp profiles installed on every node (the agents' install mechanism), one patch of its pod
 * template (each container's securityContext with its Localhost profile, and the profiles' digest
 * so a reinstall rolls out), its NetworkPolicies by server-side apply — then waits for its rollout.
 * A failed rollout puts that workload back as it was and stops. What was there before is kept in
 * an annotation on the workload, which `apply --undo` restores.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { load, loadAll } from 'js-yaml';
import { HardenError, INTERRUPTED } from '../errors';
import { ApiError, type Kube } from '../kube/client';
import { R, resourcePath } from '../kube/paths';
import { compileDocuments } from '../netpol/policy';
import { PolicySet } from '../netpol/verify';
import { readConnections, verifyLog } from '../netpol/verify-log';
import { DIGEST_ANNOTATION } from '../seccomp/apply';
import { checkName, digestOf, installText, parseProfile } from '../seccomp/install';
import { requireDeployed } from '../session/client';
import type { Deps, Io } from './context';
import { LACKS } from './record-coverage';
import { readRecordDir, type RecordManifest } from './record-dir';
import type { SummaryRow } from './record-result';
import {
  isRolloutKind,
  ROLLOUT_RESOURCES,
  waitRollouts,
  type RolloutKind,
  type RolloutObject,
} from './rollout';

/** On the workload: what apply changed, so --undo (or a failed rollout) can put it back. */
export const APPLIED_ANNOTATION = 'harden.dev/applied';

export interface ApplyOptions {
  dir: string;
  dryRun: 'none' | 'client' | 'server';
  audit: boolean;
  undo: boolean;
  rolloutTimeoutMs: number;
  installTimeoutMs: number;
}

/** What the annotation holds: the template before the first apply, and what apply added. */
interface Applied {
  template: unknown;
  profiles: string[];
  policies: { kind: string; name: string }[];
}

interface Plan {
  row: SummaryRow & { kind: RolloutKind };
  profiles: { name: string; text: string }[];
  patch?: Record<string, unknown>;
  /** The objects of the workload's .netpol.yaml, as written. */
  policies: { kind: string; metadata: { name: string } }[];
}

interface Workload extends RolloutObject {
  spec?: RolloutObject['spec'] & { template?: { metadata?: { annotations?: Record<string, string> } } };
}

const label = (row: Pick<SummaryRow, 'workload'>) => row.workload;
const POLICY_PATH = { NetworkPolicy: R.networkpolicies } as Record<string, typeof R.networkpolicies>;

async function readManifest(dir: string, kube: Kube): Promise<RecordManifest> {
  const read = await readRecordDir(dir);
  if (!read.manifest)
    throw new HardenError(
      `${dir} was not written by kubectl harden record (no record.json)`,
      `Record first: kubectl harden record -n NS --all --output-dir ${dir}`,
    );
  if (read.manifest.namespace !== kube.namespace)
    throw new HardenError(
      `${dir} is a recording of namespace "${read.manifest.namespace}", not "${kube.namespace}" (context "${kube.ctx.context}"); nothing was applied`,
      `Apply it to its own namespace: kubectl harden apply -f ${dir} -n ${read.manifest.namespace}`,
    );
  return read.manifest;
}

/** What apply would do to each workload, from the files alone. */
async function plans(dir: string, manifest: RecordManifest, io: Io): Promise<Plan[]> {
  const out: Plan[] = [];
  for (const row of manifest.workloads) {
    if (!isRolloutKind(row.kind)) {
      io.err(
        `${label(row)}: not a Deployment, StatefulSet or DaemonSet; a pod cannot change in place, so apply leaves it (its files are in ${dir})`,
      );
      continue;
    }
    for (const n of row.notRecorded ?? [])
      io.err(
        `${label(row)}: ${LACKS[n.recorder]}, as the ${n.recorder} recorder recorded none of its pods (${n.reason})`,
      );
    const text = (name: string) => readFile(join(dir, name), 'utf8');
    const profiles = await Promise.all(
      row.files
        .filter((f) => f.endsWith('.seccomp.json'))
        .map(async (f) => ({ name: f.slice(0, -'.seccomp.json'.length), text: await text(f) })),
    );
    for (const p of profiles) {
      try {
        checkName(p.name);
      } catch (e) {
        throw new HardenError(
          `${label(row)}: ${dir}/${p.name}.seccomp.json cannot be installed under that name: ${(e as Error).message}; nothing was applied`,
          `An older kubectl harden wrote it: record again into a new directory.`,
        );
      }
    }
    const sc = row.files.find((f) => f.endsWith('.securitycontext.yaml'));
    const patch = sc
      ? ((load(await text(sc)) as { patch?: Record<string, unknown> }).patch ?? undefined)
      : undefined;
    const np = row.files.find((f) => f.endsWith('.netpol.yaml'));
    const policies = np ? (loadAll(await text(np)) as Plan['policies']).filter(Boolean) : [];
    // Found before anything is applied: a workload left half hardened is worse than none.
    for (const p of policies)
      if (!POLICY_PATH[p.kind])
        throw new HardenError(
          `${label(row)}: ${dir}/${np} holds a ${p.kind}; apply puts only NetworkPolicies in force, so nothing was applied`,
          manifest.netpolFormat === 'cilium'
            ? `The recording was made with --netpol-format cilium: put its policies in force with kubectl apply -f, or record again without it.`
            : undefined,
        );
    out.push({ row: row as Plan['row'], profiles, patch, policies });
  }
  return out;
}

/**
 * --audit: the NetworkPolicies go in only when the recording's own connections would all pass
 * them (`netpol verify` of its flow logs against every policy of the directory).
 */
async function policiesDenyNothing(
  dir: string,
  manifest: RecordManifest,
  all: Plan[],
  io: Io,
): Promise<boolean> {
  const logs = await Promise.all(
    Object.keys(manifest.files)
      .filter((f) => f.endsWith('.flows.log'))
      .map((f) => readFile(join(dir, f), 'utf8')),
  );
  const log = await readConnections(Readable.from(logs.join('')), { skipInvalid: false });
  const compiled = compileDocuments(
    all.flatMap((p) => p.policies.map((object) => ({ source: p.row.workload, object }))),
    manifest.namespace,
  );
  const result = verifyLog(log, new PolicySet(compiled.policies));
  if (!result.deniedConnections) {
    io.err(`netpol verify: the recording's ${result.connections} connections all pass the NetworkPolicies`);
    return true;
  }
  io.err(
    `netpol verify: the NetworkPolicies would deny ${result.deniedConnections} of the recording's ${result.connections} connections ` +
      `(${result.denied.map((d) => `${d.workload} ${d.direction}`).join(', ')}); they are not applied`,
  );
  return false;
}

export async function runApply(opts: ApplyOptions, { kube, io, interrupt }: Deps): Promise<void> {
  const manifest = await readManifest(opts.dir, kube);
  if (opts.dryRun !== 'client') await requireDeployed(kube);
  if (opts.undo) return undo(opts, manifest, { kube, io, interrupt });
  const all = await plans(opts.dir, manifest, io);
  const withPolicies = !opts.audit || (await policiesDenyNothing(opts.dir, manifest, all, io));
  const ns = kube.namespace;
  const applied: string[] = [];
  const ctrlC = interrupt();
  // Ctrl-C seen between two workloads: thrown as it is, since no workload was being hardened.
  let between: HardenError | undefined;
  try {
    for (const plan of all) {
      if (ctrlC.signal.aborted) {
        throw (between = new HardenError(
          `interrupted; applied: ${applied.join(', ') || 'nothing'}; not applied: ${all
            .slice(applied.length)
            .map((p) => label(p.row))
            .join(', ')}`,
          `Run the same apply again to go on, or undo with: kubectl harden apply --undo -f ${opts.dir} -n ${ns}`,
          INTERRUPTED,
        ));
      }
      await applyOne(plan, { ...opts, withPolicies }, { kube, io, interrupt });
      applied.push(label(plan.row));
      io.out(
        `${label(plan.row)} ${opts.dryRun === 'none' ? 'hardened' : `would be hardened (${opts.dryRun} dry run)`}\n`,
      );
    }
  } catch (e) {
    if (e === between) throw e;
    if (ctrlC.signal.aborted && e instanceof HardenError && e.exitCode === INTERRUPTED)
      throw new HardenError(
        `interrupted while hardening ${all[applied.length] ? label(all[applied.length].row) : 'the last workload'} (its install was undone); applied: ${applied.join(', ') || 'nothing'}`,
        `Run the same apply again to go on, or undo with: kubectl harden apply --undo -f ${opts.dir} -n ${ns}`,
        INTERRUPTED,
      );
    if (!(e instanceof HardenError) || e.exitCode === INTERRUPTED) throw e;
    throw new HardenError(
      `${e.message}${applied.length ? `; applied before it: ${applied.join(', ')}` : ''}`,
      e.hint,
      e.exitCode,
    );
  } finally {
    ctrlC.dispose();
  }
}

/** Installs, patches, applies and waits for one workload; a failed rollout puts it back. */
async function applyOne(
  plan: Plan,
  opts: ApplyOptions & { withPolicies: boolean },
  { kube, io, interrupt }: Deps,
): Promise<void> {
  const ns = kube.namespace;
  const { row } = plan;
  const path = resourcePath(ROLLOUT_RESOURCES[row.kind], { namespace: ns, name: row.name });
  const workload = await kube.getOptional<Workload>(path);
  if (!workload)
    throw new HardenError(
      `${label(row)} not found in namespace "${ns}" (context "${kube.ctx.context}")`,
      'It was recorded but is gone; record again.',
    );
  // The install mechanism's own digest: what the agents report and the template is stamped with.
  const mode = opts.audit ? 'Audit' : 'Enforce';
  const digests = plan.profiles.map((p) => digestOf(installText(parseProfile(p.text), mode)));
  for (const [i, p] of plan.profiles.entries())
    io.err(
      `${label(row)}: install seccomp profile ${p.name}${opts.audit ? ' (audit variant, logs instead of denying)' : ''} as harden/${ns}/${p.name}.json (${digests[i].slice(0, 12)})`,
    );
  const before = workload.metadata.annotations?.[APPLIED_ANNOTATION];
  const previous: Applied = before
    ? (JSON.parse(before) as Applied)
    : { template: (workload.spec as { template?: unknown })?.template, profiles: [], policies: [] };
  const policies = opts.withPolicies ? plan.policies : [];
  const record: Applied = {
    template: previous.template,
    profiles: [...new Set([...previous.profiles, ...plan.profiles.map((p) => p.name)])],
    policies: [
      ...previous.policies,
      ...policies.map((p) => ({ kind: p.kind, name: p.metadata.name })),
    ].filter((p, i, a) => a.findIndex((q) => q.kind === p.kind && q.name === p.name) === i),
  };
  const patch = {
    metadata: { annotations: { [APPLIED_ANNOTATION]: JSON.stringify(record) } },
    spec: {
      ...((plan.patch?.spec as object | undefined) ?? {}),
      template: {
        ...(((plan.patch?.spec as { template?: object } | undefined)?.template as object | undefined) ?? {}),
        ...(digests.length ? { metadata: { annotations: { [DIGEST_ANNOTATION]: digests.join(',') } } } : {}),
      },
    },
  };
  io.err(`${label(row)}: patch the pod template: ${JSON.stringify(patch.spec)}`);
  for (const p of policies) io.err(`${label(row)}: server-side apply ${p.kind} ${p.metadata.name}`);
  if (plan.policies.length && !policies.length)
    io.err(
      `${label(row)}: its NetworkPolicies are not applied (verify denied some of the recording's connections)`,
    );
  if (opts.dryRun === 'client') return;

  const dryRun = opts.dryRun === 'server' ? 'All' : undefined;
  if (!dryRun) {
    const { runInstall } = await import('./seccomp-install-run');
    // The install's own stdout line (the localhostProfile) is said with its progress: stdout says what was hardened.
    const quiet: Io = { ...io, out: () => undefined };
    for (const p of plan.profiles)
      await runInstall(
        { text: p.text, name: p.name, audit: opts.audit, timeoutMs: opts.installTimeoutMs, noHint: true },
        { kube, io: quiet, interrupt },
      );
  }
  await kube.request('PATCH', path, {
    body: patch,
    contentType: 'application/strategic-merge-patch+json',
    query: { fieldManager: 'kubectl-harden', dryRun },
  });
  for (const p of policies) {
    // plans() refused every other kind.
    const ref = POLICY_PATH[p.kind];
    try {
      await kube.apply(resourcePath(ref, { namespace: ns, name: p.metadata.name }), p, {
        dryRun: Boolean(dryRun),
      });
    } catch (e) {
      if (dryRun) throw e;
      throw new HardenError(
        `${label(row)} is half hardened: its template was patched (its pods roll out under the new settings), ` +
          `but its ${p.kind} ${p.metadata.name} was not applied: ${(e as Error).message}`,
        `Fix that, then run the same apply again to finish it; or undo with: kubectl harden apply --undo -f ${opts.dir} -n ${ns}`,
      );
    }
  }
  if (dryRun) return;
  try {
    // Ctrl-C does not cut this wait: apply stops after the current workload, which is this one.
    await waitRollouts(kube, ns, [{ kind: row.kind, name: row.name }], {
      timeoutMs: opts.rolloutTimeoutMs,
      signal: new AbortController().signal,
      progress: io,
    });
  } catch (e) {
    io.err(`${label(row)}: its rollout failed under the new settings; putting it back as it was`);
    await restore(kube, path, previous, before === undefined);
    for (const p of policies.filter((x) => !previous.policies.some((q) => q.name === x.metadata.name)))
      await deletePolicy(kube, ns, p.kind, p.metadata.name);
    throw new HardenError(
      `${label(row)} did not roll out hardened (${(e as Error).message}); it was rolled back and nothing after it was applied`,
      `See why with: kubectl describe ${row.kind.toLowerCase()}/${row.name} -n ${ns}; record again, or apply with --audit`,
    );
  }
}

/** `kubectl rollout undo` to the template before apply: replaced whole, so nothing apply added stays. */
async function restore(kube: Kube, path: string, applied: Applied, dropAnnotation: boolean, dryRun?: 'All') {
  await kube.request('PATCH', path, {
    body: [
      { op: 'replace', path: '/spec/template', value: applied.template },
      ...(dropAnnotation
        ? [{ op: 'remove', path: `/metadata/annotations/${APPLIED_ANNOTATION.replace('/', '~1')}` }]
        : []),
    ],
    contentType: 'application/json-patch+json',
    query: { fieldManager: 'kubectl-harden', dryRun },
  });
}

async function deletePolicy(kube: Kube, namespace: string, kind: string, name: string, dryRun?: 'All') {
  const ref = POLICY_PATH[kind];
  if (!ref) return;
  await kube.request('DELETE', resourcePath(ref, { namespace, name }), { query: { dryRun } }).catch((e) => {
    if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
  });
}

/** `apply --undo`: each workload back to its template before apply, its policies and profiles removed. */
async function undo(opts: ApplyOptions, manifest: RecordManifest, { kube, io }: Deps): Promise<void> {
  const ns = kube.namespace;
  for (const row of manifest.workloads) {
    if (!isRolloutKind(row.kind)) continue;
    const path = resourcePath(ROLLOUT_RESOURCES[row.kind], { namespace: ns, name: row.name });
    const w = await kube.getOptional<Workload>(path);
    const text = w?.metadata.annotations?.[APPLIED_ANNOTATION];
    if (!text) {
      io.err(`${row.workload}: nothing applied to undo`);
      continue;
    }
    const applied = JSON.parse(text) as Applied;
    io.err(
      `${row.workload}: restore the pod template from before apply; remove ${
        [
          ...applied.policies.map((p) => `${p.kind} ${p.name}`),
          ...applied.profiles.map((p) => `seccomp profile ${p}`),
        ].join(', ') || 'nothing else'
      }`,
    );
    if (opts.dryRun === 'client') continue;
    // A server dry run: the API server checks the restore and the deletions, and keeps nothing.
    const dryRun = opts.dryRun === 'server' ? 'All' : undefined;
    await restore(kube, path, applied, true, dryRun);
    for (const p of applied.policies) await deletePolicy(kube, ns, p.kind, p.name, dryRun);
    if (dryRun) {
      io.out(`${row.workload} would be restored (server dry run)\n`);
      continue;
    }
    await waitRollouts(kube, ns, [{ kind: row.kind, name: row.name }], {
      timeoutMs: opts.rolloutTimeoutMs,
      signal: new AbortController().signal,
      progress: io,
    });
    // After the rollout: no pod of it names the profiles any more.
    for (const name of applied.profiles)
      await kube
        .request('DELETE', resourcePath(R.seccompprofileinstalls, { namespace: ns, name }))
        .catch((e) => {
          if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
        });
    io.out(`${row.workload} restored\n`);
  }
}
