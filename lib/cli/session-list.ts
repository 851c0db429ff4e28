import type { Deps } from './context';
import { printObject, renderTable } from './output';
import { describeTarget, listSessions } from '../session/client';
import { sessionPhase } from '../session/phase';
import type { SessionKind } from './session-kind';

/** kubectl's AGE column: the largest unit, e.g. 45s, 3m, 2h, 4d. */
export function age(since: string | undefined, nowMs: number): string {
  if (!since) return '<unknown>';
  const s = Math.max(0, Math.floor((nowMs - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export interface ListOptions {
  kind: Pick<SessionKind, 'type' | 'group' | 'containers'>;
  allNamespaces: boolean;
  output: 'table' | 'json' | 'yaml';
}

export async function runList(opts: ListOptions, { kube, io }: Pick<Deps, 'kube' | 'io'>): Promise<void> {
  const { kind, output: format } = opts;
  const sessions = await listSessions(kube, opts.allNamespaces ? undefined : kube.namespace, kind.type);
  sessions.sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  if (format !== 'table') {
    io.out(printObject({ apiVersion: 'v1', kind: 'List', items: sessions }, format));
    return;
  }
  if (!sessions.length) {
    io.err(
      `No ${kind.group} sessions found in ${opts.allNamespaces ? 'any namespace' : `namespace "${kube.namespace}"`}.`,
    );
    return;
  }
  const now = Date.now();
  io.out(
    renderTable(
      ['id', 'namespace', 'target', 'phase', 'nodes', 'containers', 'age'],
      sessions.map((s) => [
        s.metadata.name,
        s.metadata.namespace,
        describeTarget(s.spec.target),
        sessionPhase(s),
        s.status?.nodes?.length ?? 0,
        kind.containers(s),
        age(s.metadata.creationTimestamp, now),
      ]),
      io.colour,
    ),
  );
}
