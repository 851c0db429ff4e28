import { constants as fsc } from 'node:fs';
import { access, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { HardenError } from '../errors';
import { processIo, type Io } from './context';
import type { ShowArgs, StartArgs, StopArgs } from './seccomp';
import { outputFormat, toJson, toYamlDocuments } from './output';
import { interruptSignal, waitTracing } from './session-wait';
import { resolveTargets } from './targets';
import { parseDuration } from '../duration';
import { Kube } from '../kube/client';
import { waitUntil } from '../kube/wait';
import { observationsOf } from '../seccomp/from-session';
import {
  buildProfiles,
  profileFileName,
  toSeccompProfileCrd,
  type BuiltProfile,
  type ContainerObservation,
} from '../seccomp/profile';
import type { ContainerRuntime } from '../seccomp/runtime-syscalls';
import {
  createSession,
  deleteSession,
  describeTarget,
  getSession,
  newSessionId,
  requireDeployed,
  stopSession,
} from '../session/client';
import { describeGap, gapsOf } from '../session/gaps';
import type { TraceSession } from '../session/types';

export async function runStart(argv: StartArgs): Promise<void> {
  const io = processIo(argv);
  const kube = await Kube.connect(argv);
  const namespace = kube.namespace;
  await requireDeployed(kube);
  const { target, pods } = await resolveTargets(kube, namespace, argv);
  const id = argv.name ?? newSessionId('seccomp');
  await createSession(kube, namespace, id, 'seccomp', target);
  const { signal, dispose } = interruptSignal();
  try {
    await waitTracing(kube, namespace, id, 'seccomp', parseDuration(argv.timeout) ?? 30_000, io, signal);
  } catch (e) {
    // A session nobody can use must not be left behind.
    await deleteSession(kube, namespace, id);
    throw signal.aborted ? new HardenError(`interrupted; session "${id}" was removed`) : e;
  } finally {
    dispose();
  }
  io.out(`${id}\n`);
  const what = pods.length
    ? describeTarget(target)
    : `${describeTarget(target)} (no pod matches yet; pods that appear join)`;
  io.err(
    `tracing ${what} in namespace "${namespace}"; exercise the workload, then run:\n  kubectl harden seccomp stop ${id} -n ${namespace} > profile.json`,
  );
}

/** Nodes that hold (or held) targets and have not yet written their final flush. */
function pendingNodes(s: TraceSession): string[] {
  return (s.status?.nodes ?? []).filter((n) => !n.final).map((n) => n.node);
}

export async function runStop(argv: StopArgs): Promise<void> {
  const io = processIo(argv);
  const kube = await Kube.connect(argv);
  const namespace = kube.namespace;
  const resume = `kubectl harden seccomp stop ${argv.id} -n ${namespace}`;
  let session = await getSession(kube, namespace, argv.id, 'seccomp');
  // A session kept for its gaps is taken with --accept-gaps.
  if (
    session.spec.state === 'Stopped' &&
    session.status?.phase === 'Completed' &&
    !pendingNodes(session).length &&
    !(argv.acceptGaps && gapsOf(session).length)
  ) {
    throw new HardenError(
      `session "${argv.id}" in namespace "${namespace}" is already stopped (context "${kube.ctx.context}")`,
      `Print its profile with: kubectl harden seccomp show ${argv.id} -n ${namespace}`,
    );
  }
  // Check the destination before stopping anything, so a bad --output-dir loses nothing.
  const format = profileFormat(argv);
  if (argv.outputDir) await ensureWritableDir(argv.outputDir);
  if (session.spec.state !== 'Stopped') session = await stopSession(kube, session);

  const timeoutMs = parseDuration(argv.timeout) ?? 60_000;
  const { signal, dispose } = interruptSignal();
  try {
    session =
      (await waitUntil(
        async () => {
          const s = await getSession(kube, namespace, argv.id, 'seccomp');
          const waiting = pendingNodes(s);
          // Done when every node that recorded anything has written its final flush.
          return {
            done: !waiting.length && s.status?.phase !== 'Tracing',
            progress: waiting.length
              ? `waiting for the final flush from ${waiting.join(', ')}`
              : 'waiting for the agents',
            value: s,
          };
        },
        {
          timeoutMs,
          intervalMs: 250,
          signal,
          onProgress: (l) => io.progress(l),
          onTimeout: (last) =>
            new HardenError(
              `the agents did not finish session "${argv.id}" in time (${last?.progress}; context "${kube.ctx.context}"); the session is kept`,
              `Check them with kubectl harden status, then resume with: ${resume}`,
            ),
        },
      )) ?? session;
  } catch (e) {
    io.done();
    if (signal.aborted) {
      throw new HardenError(
        `interrupted; session "${argv.id}" is stopped and kept`,
        `Resume with: ${resume}`,
        130,
      );
    }
    throw e;
  } finally {
    dispose();
  }
  io.done();
  const gaps = warnGaps(session, io);
  if (gaps && !argv.acceptGaps) {
    throw new HardenError(
      `session "${argv.id}" in namespace "${namespace}" was not traced throughout (${gaps} gap${gaps > 1 ? 's' : ''}, listed above): syscalls made then may be missing from the profile, and enforcing it would deny them; the session is kept (context "${kube.ctx.context}")`,
      `Record again in a new session, or take this profile as it is: ${resume} --accept-gaps`,
    );
  }
  // Render before deleting: an error here must leave the recorded data in place.
  await emitProfiles(session, argv, format, io);
  if (!argv.keep) await deleteSession(kube, namespace, argv.id);
}

export async function runShow(argv: ShowArgs): Promise<void> {
  const io = processIo(argv);
  const kube = await Kube.connect(argv);
  const format = profileFormat(argv);
  if (argv.outputDir) await ensureWritableDir(argv.outputDir);
  const session = await getSession(kube, kube.namespace, argv.id, 'seccomp');
  warnGaps(session, io);
  await emitProfiles(session, argv, format, io);
}

/** Names every interval in which a target was not traced; returns how many there were. */
function warnGaps(session: TraceSession, io: Io): number {
  const gaps = gapsOf(session);
  for (const g of gaps) io.err(`warning: ${describeGap(g)}`);
  return gaps.length;
}

function profileFormat(argv: StopArgs): string {
  return outputFormat(argv.output, ['json', 'crd'], 'json');
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

async function emitProfiles(session: TraceSession, argv: StopArgs, format: string, io: Io): Promise<void> {
  const observations = observationsOf(session, argv.runtime as ContainerRuntime);
  const profiles = render(session, observations);
  for (const p of profiles) for (const note of p.notes) io.err(`${p.workload}/${p.container}: ${note}`);
  const late = observations.filter((o) => !o.startSeen);
  for (const name of [...new Set(late.map((o) => `${o.workload}/${o.container}`))]) {
    io.err(
      `warning: ${name} was already running when the session started, so what it did before (its start-up) ` +
        'is not in the profile; to record it, start the session with -l before the pods (re)start.',
    );
  }
  if (format === 'crd') {
    io.out(
      toYamlDocuments(
        profiles.map((p) => toSeccompProfileCrd(`${p.workload}-${p.container}`, p.namespace, p.profile)),
      ),
    );
    return;
  }
  if (argv.outputDir) {
    io.out((await writeProfiles(argv.outputDir, profiles)).map((f) => `${f}\n`).join(''));
    return;
  }
  if (profiles.length > 1) {
    throw new HardenError(
      `session "${session.metadata.name}" recorded ${profiles.length} containers (${profiles.map((p) => `${p.workload}/${p.container}`).join(', ')})`,
      'Pass --output-dir DIR to write one profile per container, or -o crd for all of them.',
    );
  }
  io.out(toJson(profiles[0].profile));
}

/** All files are written to temporaries first and renamed at the end, so a failure leaves no half set. */
async function writeProfiles(dir: string, profiles: BuiltProfile[]): Promise<string[]> {
  const staged: { tmp: string; final: string }[] = [];
  try {
    for (const p of profiles) {
      const final = resolve(join(dir, profileFileName(p.namespace, p.workload, p.container)));
      const tmp = `${final}.${process.pid}.tmp`;
      await writeFile(tmp, toJson(p.profile), { flag: 'wx' });
      staged.push({ tmp, final });
    }
    for (const s of staged) await rename(s.tmp, s.final);
  } catch (e) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    throw new HardenError(`cannot write profiles into ${dir}: ${(e as Error).message}`);
  }
  return staged.map((s) => s.final);
}
