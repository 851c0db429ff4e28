import { randomBytes } from 'node:crypto';
import { HardenError } from '../errors';
import { selectorText } from '../labels';
import { ApiError, type Kube } from '../kube/client';
import { inform } from '../kube/informer';
import { R, resourcePath } from '../kube/paths';
import type { List } from '../kube/objects';
import { assembleSession, labelValue, SESSION_LABEL, type TraceRecord } from './trace-records';
import {
  API_VERSION,
  KIND,
  type ObjectMeta,
  type SessionType,
  type TraceSession,
  type TraceTarget,
} from './types';

/** Marks which create request made a session, so a repeated create recognises its own object. */
const CREATE_REQUEST = 'harden.dev/create-request';

/** Session ids look like kubectl's generated names: the kind's prefix and five lowercase characters. */
export function newSessionId(prefix: string): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  const bytes = randomBytes(5);
  return `${prefix}-${[...bytes].map((b) => alphabet[b % alphabet.length]).join('')}`;
}

export function describeTarget(t: TraceTarget): string {
  if (t.podName) return `pod/${t.podName}`;
  if (t.all) return 'all pods';
  return `selector ${selectorText(t.selector ?? {})}`;
}

export function sessionPath(namespace?: string, name?: string, subresource?: string): string {
  return resourcePath(R.tracesessions, { namespace, name, subresource });
}

/** What a caller adds to a session's metadata (an audit session: its labels and its owner). */
export type SessionMeta = Partial<Pick<ObjectMeta, 'labels' | 'annotations' | 'ownerReferences'>>;

export async function createSession(
  kube: Kube,
  namespace: string,
  name: string,
  type: SessionType,
  target: TraceTarget,
  meta: SessionMeta = {},
): Promise<TraceSession> {
  const request = randomBytes(8).toString('hex');
  const body: TraceSession = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name,
      namespace,
      labels: { ...meta.labels, 'app.kubernetes.io/managed-by': 'kubectl-harden', 'harden.dev/type': type },
      annotations: {
        ...meta.annotations,
        'harden.dev/target': describeTarget(target),
        [CREATE_REQUEST]: request,
      },
      ...(meta.ownerReferences ? { ownerReferences: meta.ownerReferences } : {}),
    },
    spec: { type, target, state: 'Running' },
  };
  try {
    return await kube.request<TraceSession>('POST', sessionPath(namespace), { body });
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 409) {
      // Our own create, applied although its answer was lost (and the request repeated), is a success.
      const existing = await kube.getOptional<TraceSession>(sessionPath(namespace, name));
      if (existing?.metadata.annotations?.[CREATE_REQUEST] === request) return existing;
      throw new HardenError(
        `session "${name}" already exists in namespace "${namespace}" (context "${kube.ctx.context}")`,
        'Choose another --name, or omit it to get a generated one.',
      );
    }
    throw e;
  }
}

/**
 * The sessions with their nodes' records in status.nodes (see ./trace-records): one list of the
 * records of `session` (or of every session in `namespace`; every namespace when undefined). A
 * cluster whose agent release predates TraceRecords has none: its agents wrote the status itself.
 */
export async function withRecords(
  kube: Kube,
  sessions: TraceSession[],
  namespace: string | undefined,
  session?: string,
): Promise<TraceSession[]> {
  if (!sessions.length) return sessions;
  try {
    const list = await kube.get<List<TraceRecord>>(
      resourcePath(R.tracerecords, { namespace }),
      session
        ? { labelSelector: `${SESSION_LABEL}=${labelValue(session)}` }
        : { labelSelector: SESSION_LABEL },
    );
    return sessions.map((s) => assembleSession(s, list.items));
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 404) return sessions;
    throw e;
  }
}

/**
 * A session with its nodes' records (listed, unless the caller holds them), or undefined when it
 * does not exist.
 */
export async function findSession(
  kube: Kube,
  namespace: string,
  name: string,
  records?: readonly TraceRecord[],
): Promise<TraceSession | undefined> {
  const s = await kube.getOptional<TraceSession>(sessionPath(namespace, name));
  if (!s) return undefined;
  return records ? assembleSession(s, records) : (await withRecords(kube, [s], namespace, name))[0];
}

/**
 * A session of this type; `list`: the command that lists them, for the not-found hint; `records`:
 * its records when the caller holds them (followSession), else they are listed.
 */
export async function getSession(
  kube: Kube,
  namespace: string,
  name: string,
  type: SessionType,
  list = `kubectl get tracesessions -n ${namespace} -l harden.dev/type=${type}`,
  records?: readonly TraceRecord[],
): Promise<TraceSession> {
  const s = await findSession(kube, namespace, name, records);
  if (!s || s.spec.type !== type) {
    throw new HardenError(
      `${type} session "${name}" not found in namespace "${namespace}" (context "${kube.ctx.context}")`,
      `List sessions with: ${list}`,
    );
  }
  return s;
}

/** A session read again and again while a verb waits on it; close() when done waiting. */
export interface FollowedSession {
  read(): Promise<TraceSession>;
  close(): void;
}

/**
 * Follows one session while start waits for it to trace and stop for every node's final flush:
 * the session object by a GET on each read, its records from one list and a watch, so each node's
 * write is read once instead of every record on every poll (a list of one session's records is
 * ≈ 60 MiB at 5,000 nodes, and those waits poll every 200–250 ms). Without the TraceRecord resource
 * (agents of an earlier release write into the session's status) the session is read alone. Once
 * the watch fails (it is retried meanwhile), reads list the records again, as if not followed.
 */
export async function followSession(
  kube: Kube,
  namespace: string,
  name: string,
  type: SessionType,
): Promise<FollowedSession> {
  const records = new Map<string, TraceRecord>();
  const stop = new AbortController();
  let watched = true;
  try {
    await inform<TraceRecord>(
      kube,
      resourcePath(R.tracerecords, { namespace }),
      { labelSelector: `${SESSION_LABEL}=${labelValue(name)}` },
      (event, r) => {
        if (event === 'DELETED') records.delete(r.metadata.name);
        else records.set(r.metadata.name, r);
      },
      stop.signal,
      () => (watched = false),
    );
  } catch (e) {
    if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
  }
  return {
    read: () =>
      watched
        ? getSession(kube, namespace, name, type, undefined, [...records.values()])
        : getSession(kube, namespace, name, type),
    close: () => stop.abort(),
  };
}

export async function listSessions(
  kube: Kube,
  namespace: string | undefined,
  type: SessionType,
): Promise<TraceSession[]> {
  const list = await kube.get<List<TraceSession>>(sessionPath(namespace), {
    labelSelector: `harden.dev/type=${type}`,
  });
  return withRecords(kube, list.items, namespace);
}

export async function stopSession(kube: Kube, s: TraceSession): Promise<TraceSession> {
  return kube.mergePatch<TraceSession>(sessionPath(s.metadata.namespace, s.metadata.name), {
    spec: { state: 'Stopped' },
  });
}

export async function deleteSession(kube: Kube, namespace: string, name: string): Promise<void> {
  try {
    await kube.request('DELETE', sessionPath(namespace, name));
  } catch (e) {
    if (!(e instanceof ApiError && e.statusCode === 404)) throw e;
  }
}

/** The CRD is the sign that `deploy` ran; without it nothing could trace. */
export async function requireDeployed(kube: Kube): Promise<void> {
  const crd = await kube
    .getOptional(resourcePath(R.crds, { name: 'tracesessions.harden.dev' }))
    .catch((e) => {
      // A user with only namespaced rights cannot read CRDs; the session create will tell.
      if (e instanceof ApiError && e.statusCode === 403) return true;
      throw e;
    });
  if (!crd) {
    throw new HardenError(
      `kubectl-harden's agent is not deployed in context "${kube.ctx.context}" (no TraceSession CRD)`,
      'Run: kubectl harden deploy',
    );
  }
}

/** Sessions still tracing, across all namespaces, without their records; none when the CRD is absent. */
export async function activeSessions(kube: Kube): Promise<TraceSession[]> {
  try {
    const list = await kube.get<List<TraceSession>>(sessionPath());
    return list.items.filter((s) => s.spec.state === 'Running');
  } catch (e) {
    if (e instanceof ApiError && e.statusCode === 404) return [];
    throw e;
  }
}
