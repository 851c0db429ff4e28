import { constants as fsc } from 'node:fs';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HardenError } from '../errors';
import type { Deps, Io } from './context';
import { startAndAnnounce, stopAndCollect, warnGaps, type StartOptions } from './session-verbs';
import { toJson, toYamlDocuments } from './output';
import { observationsOf } from '../seccomp/from-session';
import {
  buildProfiles,
  profileFileName,
  toSeccompProfileCrd,
  type BuiltProfile,
  type ContainerObservation,
} from '../seccomp/profile';
import type { ContainerRuntime } from '../seccomp/runtime-syscalls';
import { deleteSession, getSession } from '../session/client';
import type { TraceSession } from '../session/types';

export type SeccompStartOptions = StartOptions;

export type ProfileFormat = 'json' | 'crd';

export interface SeccompShowOptions {
  id: string;
  output: ProfileFormat;
  outputDir?: string;
  runtime: ContainerRuntime;
}

export interface SeccompStopOptions extends SeccompShowOptions {
  keep: boolean;
  /** Emit the profile even when a target was not traced for a while (the gaps are named on stderr). */
  acceptGaps: boolean;
  /** How long to wait for the agents' final flush. */
  timeoutMs: number;
}

export async function runStart(opts: SeccompStartOptions, deps: Deps): Promise<void> {
  await startAndAnnounce('seccomp', 'seccomp', '> profile.json', opts, deps);
}

export async function runStop(opts: SeccompStopOptions, deps: Deps): Promise<void> {
  const session = await stopAndCollect(
    'seccomp',
    'seccomp',
    {
      ...opts,
      missing: 'syscalls made then may be missing from the profile, and enforcing it would deny them',
    },
    deps,
    // Check before stopping anything, so a bad --output-dir or a profile that cannot be printed
    // loses nothing: the same stop, corrected, still works.
    async (running) => {
      if (opts.outputDir) await ensureWritableDir(opts.outputDir);
      const many = oneProfileProblem(running, opts);
      if (many)
        throw new HardenError(
          `${many}; nothing was stopped`,
          `Write one file per container: kubectl harden seccomp stop ${opts.id} -n ${deps.kube.namespace} --output-dir DIR (or -o crd for all of them).`,
        );
    },
  );
  // A container seen only in the final flush: the session is stopped and kept, and show prints it.
  const many = oneProfileProblem(session, opts);
  if (many)
    throw new HardenError(
      `${many}; the session is stopped and kept`,
      `Write one file per container: kubectl harden seccomp show ${opts.id} -n ${deps.kube.namespace} --output-dir DIR (or -o crd).`,
    );
  // Render before deleting: an error here must leave the recorded data in place.
  await emitProfiles(session, opts, deps.io);
  if (!opts.keep) await deleteSession(deps.kube, deps.kube.namespace, opts.id);
}

export async function runShow(
  opts: SeccompShowOptions,
  { kube, io }: Pick<Deps, 'kube' | 'io'>,
): Promise<void> {
  if (opts.outputDir) await ensureWritableDir(opts.outputDir);
  const session = await getSession(kube, kube.namespace, opts.id, 'seccomp');
  warnGaps(session, io);
  await emitProfiles(session, opts, io);
}

/** Why these options cannot print this session's profiles (more than one, and a single JSON asked for). */
function oneProfileProblem(session: TraceSession, opts: SeccompShowOptions): string | undefined {
  if (opts.outputDir || opts.output !== 'json') return undefined;
  const names = [
    ...new Set(observationsOf(session, opts.runtime).map((o) => `${o.workload}/${o.container}`)),
  ].sort();
  if (names.length < 2) return undefined;
  return `session "${session.metadata.name}" recorded ${names.length} containers (${names.join(', ')}): one JSON profile holds one`;
}

async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, fsc.W_OK);
  } catch (e) {
    throw new HardenError(
      `--output-dir ${dir} is not a writable directory: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

function render(session: TraceSession, observations: ContainerObservation[]): BuiltProfile[] {
  const where = `session "${session.metadata.name}" in namespace "${session.metadata.namespace}"`;
  let profiles: BuiltProfile[];
  try {
    profiles = buildProfiles(observations);
  } catch (e) {
    throw new HardenError(
      `cannot build profiles for ${where}: ${(e as Error).message}`,
      'The session is kept; nothing was written.',
    );
  }
  if (!profiles.length) {
    throw new HardenError(
      `${where} recorded no container`,
      'Did the target pods run on a node with a ready agent? See kubectl harden status.',
    );
  }
  return profiles;
}

async function emitProfiles(session: TraceSession, opts: SeccompShowOptions, io: Io): Promise<void> {
  const observations = observationsOf(session, opts.runtime);
  const profiles = render(session, observations);
  for (const p of profiles) for (const note of p.notes) io.err(`${p.workload}/${p.container}: ${note}`);
  const late = observations.filter((o) => !o.startSeen);
  for (const name of [...new Set(late.map((o) => `${o.workload}/${o.container}`))]) {
    io.err(
      `warning: ${name} was already running when the session started, so what it did before (its start-up) ` +
        'is not in the profile; to record it, start the session with -l before the pods (re)start.',
    );
  }
  const crd = (p: BuiltProfile) =>
    toSeccompProfileCrd(`${p.workload}-${p.container}`, p.namespace, p.profile);
  if (opts.outputDir) {
    const files = profiles.map((p) =>
      opts.output === 'crd'
        ? { p, ext: 'yaml' as const, text: toYamlDocuments([crd(p)]) }
        : { p, ext: 'json' as const, text: toJson(p.profile) },
    );
    io.out((await writeProfiles(opts.outputDir, files)).map((f) => `${f}\n`).join(''));
    return;
  }
  if (opts.output === 'crd') {
    io.out(toYamlDocuments(profiles.map(crd)));
    return;
  }
  const many = oneProfileProblem(session, opts);
  if (many)
    throw new HardenError(
      many,
      'Pass --output-dir DIR to write one profile per container, or -o crd for all of them.',
    );
  io.out(toJson(profiles[0].profile));
}

/** All files are written to temporaries first and renamed at the end, so a failure leaves no half set. */
async function writeProfiles(
  dir: string,
  files: { p: BuiltProfile; ext: 'json' | 'yaml'; text: string }[],
): Promise<string[]> {
  const staged: { tmp: string; final: string }[] = [];
  try {
    for (const { p, ext, text } of files) {
      const final = resolve(join(dir, profileFileName(p.namespace, p.workload, p.container, ext)));
      const tmp = `${final}.${process.pid}.tmp`;
      await writeFile(tmp, text, { flag: 'wx' });
      staged.push({ tmp, final });
    }
    for (const s of staged) await rename(s.tmp, s.final);
  } catch (e) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    throw new HardenError(`cannot write profiles into ${dir}: ${(e as Error).message}`);
  }
  return staged.map((s) => s.final);
}
