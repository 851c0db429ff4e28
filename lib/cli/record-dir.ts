/**
 * The directory `record` writes and `apply` reads: every file listed with its sha256 in
 * `record.json`, so a file record did not write (or one changed since) is found before anything
 * is overwritten or applied, and a re-run merges into what is there instead of replacing it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFilesAtomically } from './write-files';
import { HardenError } from '../errors';
import { API_VERSION } from '../session/types';
import type { Evidence, SummaryRow } from './record-result';

export const MANIFEST = 'record.json';
export const RECORDING_KIND = 'Recording';

export interface RecordManifest {
  apiVersion: typeof API_VERSION;
  kind: typeof RECORDING_KIND;
  namespace: string;
  context: string;
  cluster: string;
  /** `--all`, or the label selector the workloads were chosen by. */
  selector: string;
  netpolFormat: 'kubernetes' | 'cilium';
  recordings: { id: string; startTime: string; endTime: string; restarted: boolean }[];
  workloads: SummaryRow[];
  /** Every file record wrote here (the manifest aside), with its sha256. */
  files: Record<string, string>;
}

export const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

export const evidenceFile = (id: string) => `record-${id}.evidence.json`;
export const flowLogFile = (id: string) => `record-${id}.flows.log`;

/** What a directory already holds from earlier recordings. */
export interface RecordDir {
  dir: string;
  manifest?: RecordManifest;
  evidence: Evidence[];
  /** The earlier recordings' flow logs, as text, oldest first. */
  flowLogs: string[];
  /** The earlier recordings' own files (evidence and flow logs), which a re-run keeps. */
  kept: { name: string; text: string }[];
}

const isMissing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Reads DIR as record left it: nothing (a new or empty directory), or a manifest whose files are
 * all there unchanged. Refuses a directory holding anything else, naming the files.
 */
export async function readRecordDir(dir: string): Promise<RecordDir> {
  let entries: string[];
  try {
    entries = (await readdir(dir)).sort();
  } catch (e) {
    if (isMissing(e)) return { dir, evidence: [], flowLogs: [], kept: [] };
    throw new HardenError(`cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!entries.length) return { dir, evidence: [], flowLogs: [], kept: [] };
  if (!entries.includes(MANIFEST)) {
    throw new HardenError(
      `${dir} was not written by kubectl harden record (no ${MANIFEST}; it holds ${list(entries)})`,
      'Name a new or empty directory, or one an earlier record wrote.',
    );
  }
  const manifest = parseManifest(dir, await readFile(join(dir, MANIFEST), 'utf8'));
  const foreign = entries.filter((e) => e !== MANIFEST && !(e in manifest.files));
  if (foreign.length) {
    throw new HardenError(
      `${dir} holds files kubectl harden record did not write: ${list(foreign)}`,
      'Move them out (record never overwrites or mixes in what it did not write).',
    );
  }
  const texts = new Map<string, string>();
  const changed: string[] = [];
  for (const [name, digest] of Object.entries(manifest.files)) {
    const text = await readFile(join(dir, name), 'utf8').catch((e) => {
      if (isMissing(e)) return undefined;
      throw e;
    });
    if (text === undefined || sha256(text) !== digest)
      changed.push(`${name}${text === undefined ? ' (missing)' : ''}`);
    else texts.set(name, text);
  }
  if (changed.length) {
    throw new HardenError(
      `${dir} was changed since kubectl harden record wrote it: ${list(changed)} ${changed.length > 1 ? 'differ' : 'differs'} from ${MANIFEST}`,
      'Record into a new directory, or put the files back as record wrote them.',
    );
  }
  const evidence = manifest.recordings.map((r) => {
    const text = texts.get(evidenceFile(r.id));
    if (text === undefined)
      throw new HardenError(
        `${dir}/${MANIFEST} names recording ${r.id}, whose ${evidenceFile(r.id)} it does not list`,
      );
    return JSON.parse(text) as Evidence;
  });
  const flowLogs = manifest.recordings.flatMap((r) => texts.get(flowLogFile(r.id)) ?? []);
  const kept = manifest.recordings.flatMap((r) =>
    [evidenceFile(r.id), flowLogFile(r.id)].flatMap((name) => {
      const text = texts.get(name);
      return text === undefined ? [] : [{ name, text }];
    }),
  );
  return { dir, manifest, evidence, flowLogs, kept };
}

function parseManifest(dir: string, text: string): RecordManifest {
  let m: Partial<RecordManifest>;
  try {
    m = JSON.parse(text) as Partial<RecordManifest>;
  } catch (e) {
    throw new HardenError(`${dir}/${MANIFEST} is not JSON: ${(e as Error).message}`);
  }
  if (
    m?.apiVersion !== API_VERSION ||
    m.kind !== RECORDING_KIND ||
    typeof m.files !== 'object' ||
    !m.namespace
  ) {
    throw new HardenError(
      `${dir}/${MANIFEST} is not a manifest kubectl harden record wrote (want apiVersion ${API_VERSION}, kind ${RECORDING_KIND})`,
    );
  }
  return { ...m, recordings: m.recordings ?? [], workloads: m.workloads ?? [] } as RecordManifest;
}

const list = (names: string[]) =>
  names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');

/**
 * Writes the new set of files and the manifest: each to a temporary first, then renamed, the
 * manifest last, so an interrupted write leaves the old manifest describing what is there; files
 * an earlier recording wrote that this one no longer makes are removed.
 */
export async function writeRecordDir(
  previous: RecordDir,
  files: { name: string; text: string }[],
  manifest: Omit<RecordManifest, 'files'>,
): Promise<RecordManifest> {
  const { dir } = previous;
  const full: RecordManifest = {
    ...manifest,
    files: Object.fromEntries(files.map((f) => [f.name, sha256(f.text)])),
  };
  const all = [...files, { name: MANIFEST, text: JSON.stringify(full, null, 2) + '\n' }];
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new HardenError(`cannot write into ${dir}: ${(e as Error).message}`);
  }
  await writeFilesAtomically(dir, all);
  for (const name of Object.keys(previous.manifest?.files ?? {}))
    if (!(name in full.files)) await rm(join(dir, name), { force: true });
  return full;
}
