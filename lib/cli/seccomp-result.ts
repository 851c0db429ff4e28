import { syscallRecordsOf } from '../agent/recorders/syscalls/session';
import { HardenError } from '../errors';
import { observationsOf } from '../seccomp/from-session';
import {
  buildProfiles,
  profileFileName,
  toSeccompProfileCrd,
  type BuiltProfile,
  type ContainerObservation,
} from '../seccomp/profile';
import { profileName } from '../seccomp/install';
import { missedLife } from '../session/life';
import type { TraceSession } from '../session/types';
import { toJson, toYamlDocuments } from './output';
import type { SeccompOptions } from './seccomp';
import type { KindResult, Rendered } from './session-kind';

const where = (s: TraceSession) => `session "${s.metadata.name}" in namespace "${s.metadata.namespace}"`;

const observed = (s: TraceSession, opts: SeccompOptions) =>
  observationsOf(s.metadata.namespace, syscallRecordsOf(s), opts.runtime);

/** The profiles' container names, workload/container, sorted: one profile each, merged across replicas. */
function containers(session: TraceSession, opts: SeccompOptions): string[] {
  return [...new Set(observed(session, opts).map((o) => `${o.workload}/${o.container}`))].sort();
}

function build(session: TraceSession, observations: ContainerObservation[]): BuiltProfile[] {
  const { built: profiles, refused } = buildProfiles(observations);
  // A session is kept until its result is delivered, so a refusal loses nothing: refuse it whole.
  if (refused.length)
    throw new HardenError(
      `cannot build profiles for ${where(session)}: ${refused.map((r) => r.reason).join('; ')}`,
      'The session is kept; nothing was written.',
    );
  if (!profiles.length) {
    throw new HardenError(
      `${where(session)} recorded no container`,
      'Did the target pods run on a node with a ready agent? See kubectl harden status.',
    );
  }
  return profiles;
}

/**
 * Names by `plain`, except where two profiles would share one (api/server-proxy and
 * api-server/proxy are both api-server-proxy): those take the install name, which a digest of
 * workload and container keeps apart, so no profile overwrites another.
 */
function unique(
  profiles: BuiltProfile[],
  plain: (p: BuiltProfile) => string,
  spell: (p: BuiltProfile, installName: string) => string = (_, n) => n,
): (p: BuiltProfile) => string {
  const count = new Map<string, number>();
  for (const p of profiles) count.set(plain(p), (count.get(plain(p)) ?? 0) + 1);
  return (p) => (count.get(plain(p)) === 1 ? plain(p) : spell(p, profileName(p.workload, p.container)));
}

/**
 * A session's seccomp profiles: one per container name, from what the agents recorded. Pure. No
 * `truncated`: a container's syscall set is bounded by the syscall table itself, and the one bound
 * that can cut it (the kernel map, per node) is recorded as a MapFull gap, refused unless
 * --accept-gaps.
 */
export const seccompResult: KindResult<SeccompOptions> = {
  unprintable: (session, opts) => {
    if (opts.outputDir || opts.output !== 'json') return undefined;
    const names = containers(session, opts);
    if (names.length < 2) return undefined;
    if (opts.install)
      return {
        why: `session "${session.metadata.name}" recorded ${names.length} containers (${names.join(', ')}): --install takes one profile`,
        instead: '--output-dir DIR, then kubectl harden seccomp install each file',
      };
    return {
      why: `session "${session.metadata.name}" recorded ${names.length} containers (${names.join(', ')}): one JSON profile holds one`,
      instead: '--output-dir DIR (or -o crd)',
    };
  },

  deliver: async (rendered, opts, deps) => {
    if (!opts.install || typeof rendered.out !== 'string') return false;
    const { runInstall } = await import('./seccomp-install-run');
    await runInstall(
      { text: rendered.out, name: opts.install, audit: opts.audit ?? false, timeoutMs: 120_000 },
      deps,
    );
    return true;
  },

  render: async (session, opts): Promise<Rendered> => {
    const observations = observed(session, opts);
    const profiles = build(session, observations);
    const notes = profiles.flatMap((p) => p.notes.map((n) => `${p.workload}/${p.container}: ${n}`));
    const late = [
      ...new Set(observations.filter((o) => !o.startSeen).map((o) => `${o.workload}/${o.container}`)),
    ];
    for (const name of late)
      notes.push(
        `warning: ${name} was already running when the session started, so what it did before (its start-up) ` +
          'is not in the profile; to record it, start the session with -l before the pods (re)start.',
      );
    // Per workload and container, what else of its life was not seen (start-up is said above).
    const records = syscallRecordsOf(session);
    const partialLife: string[] = [];
    for (const who of [...new Set(records.map((r) => `${r.workload || r.pod}/${r.container}`))].sort()) {
      const mine = records.filter((r) => `${r.workload || r.pod}/${r.container}` === who);
      const missed = missedLife(mine, [], { result: 'profile', shutdownNeeds: 'kill' });
      partialLife.push(...missed.map((m) => `warning: ${who}: ${m}`));
    }
    notes.push(...partialLife.filter((l) => !/start-up not observed/.test(l)));
    const crdName = unique(profiles, (p) => `${p.workload}-${p.container}`);
    const crd = (p: BuiltProfile) => toSeccompProfileCrd(crdName(p), p.namespace, p.profile);
    if (opts.outputDir) {
      const ext = opts.output === 'crd' ? 'yaml' : 'json';
      const fileName = unique(
        profiles,
        (p) => profileFileName(p.namespace, p.workload, p.container, ext),
        (p, n) => `${p.namespace}-${n}.${ext}`,
      );
      const out = profiles.map((p) => ({
        name: fileName(p),
        text: opts.output === 'crd' ? toYamlDocuments([crd(p)]) : toJson(p.profile),
      }));
      return { out, notes, partialLife };
    }
    if (opts.output === 'crd') return { out: toYamlDocuments(profiles.map(crd)), notes, partialLife };
    return { out: toJson(profiles[0].profile), notes, partialLife };
  },
};
