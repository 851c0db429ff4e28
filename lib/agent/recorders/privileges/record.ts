/**
 * Per container instance, what a capabilities session saw on this node: its events merged into a
 * bounded record for the session status. Pure: identities are passed in.
 */
import { posix } from 'node:path';
import { isNodeArch, type NodeArch } from '../../../seccomp/names';
import type { NodeRecord } from '../../../session/types';
import type { ContainerInfo, SessionRecorder, SessionView } from '../../core/recorder';
import { capabilityName, syscallLabel, type PrivilegeEvent } from './parse';
import { DIR_DEPTH } from './program';
import {
  MAX_PRIVILEGE_ENTRIES,
  MAX_PRIVILEGE_ENTRIES_PER_NODE,
  PRIVILEGE_LISTS,
  type PrivilegeList,
  type PrivilegeRecord,
} from './types';

const hex = (m: bigint) => `0x${m.toString(16)}`;

type Lists = Required<Pick<PrivilegeRecord, PrivilegeList>>;
type Entry<K extends keyof Lists> = Lists[K][number];

/**
 * A write known to be off the root filesystem: its file's mount said so, or its absolute path is
 * under one of the container's volume mounts. Kept apart, so a workload that fills its data volume
 * cannot push its few root filesystem writes out of the bounded list.
 */
function offRoot(rec: PrivilegeRecord, rootfs: 'yes' | 'no' | 'unknown', path: string): boolean {
  if (rootfs === 'no') return true;
  if (rootfs === 'yes' || !path.startsWith('/')) return false;
  const p = posix.normalize(path);
  return rec.mounts.some((m) => p === m || p.startsWith(m.endsWith('/') ? m : `${m}/`));
}

/** The list each kind of event goes to (a write's may be volumeWrites: the stricter one is named). */
const LIST_OF: Record<Exclude<PrivilegeEvent['kind'], 'dir'>, PrivilegeList> = {
  check: 'capChecks',
  cred: 'credentials',
  setid: 'idChanges',
  exec: 'execs',
  write: 'writes',
  privateRead: 'privateReads',
  lowBind: 'lowBinds',
  portStart: 'lowBinds',
  // Not a list: what was dropped is named with the one that decides the most.
  life: 'credentials',
};

/** Directories remembered per session; beyond it the table starts over (addresses get reused). */
const MAX_DIRS = 20_000;

const entryId = (e: object) => JSON.stringify({ ...e, count: 0 });
/** Only the runtime's entries carry the mark: the workload's stay as they always were. */
const byRuntime = (runtime: boolean) => (runtime ? { runtime: true as const } : {});

/**
 * Per container instance, what a capabilities session saw on this node. Events wait by cgroup until
 * the container's identity is known (its pod status names it), then merge into its record.
 */
export class PrivilegeTable implements SessionRecorder<PrivilegeEvent> {
  private readonly pending = new Map<string, PrivilegeEvent[]>();
  /** Lists whose events a cgroup dropped while it waited for its identity (beyond the bound). */
  private readonly pendingCut = new Map<string, Set<PrivilegeList>>();
  private readonly records = new Map<string, PrivilegeRecord>();
  /** Directory names and parents by dentry, for relative writes. */
  private readonly dirs = new Map<string, { name?: string; parent?: string }>();
  /** Entries held across all records: the node's status entry must stay far below etcd's limit. */
  private entries = 0;

  constructor(
    private readonly arch: NodeArch,
    private readonly cap = MAX_PRIVILEGE_ENTRIES,
    private readonly nodeCap = MAX_PRIVILEGE_ENTRIES_PER_NODE,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  /** Takes back what an earlier agent wrote for this node, so a restart keeps its records. */
  seed(previous: Iterable<PrivilegeRecord>): void {
    for (const r of previous) {
      this.records.set(r.containerID, structuredClone(r));
      for (const list of PRIVILEGE_LISTS) this.entries += r[list]?.length ?? 0;
    }
  }

  /** Adds to a bounded list, merging counts of an equal entry (equal in every field but count). */
  private addTo<K extends keyof Lists>(rec: PrivilegeRecord, list: K, entry: Entry<K>): void {
    const items = (rec[list] ??= []) as Entry<K>[];
    const key = entryId(entry);
    const seen = items.find((e) => entryId(e) === key);
    if (seen) seen.count += entry.count;
    // Which list: advice that depends on it is withheld, the rest still stands.
    else if (items.length >= this.cap || this.entries >= this.nodeCap) this.markCut(rec, list);
    else {
      items.push({ ...entry });
      this.entries++;
    }
  }

  add(events: readonly PrivilegeEvent[]): void {
    for (const e of events) {
      if (e.kind === 'dir') {
        // Kernel addresses are reused once a dentry is freed: a long session forgets old ones.
        if (this.dirs.size >= MAX_DIRS) this.dirs.clear();
        const d = this.dirs.get(e.dentry) ?? {};
        this.dirs.set(e.dentry, {
          ...d,
          ...(e.name !== undefined ? { name: e.name } : {}),
          ...(e.parent ? { parent: e.parent } : {}),
        });
        continue;
      }
      const list = this.pending.get(e.cgroup) ?? [];
      // Bounded while waiting too: a cgroup that never resolves must not grow without end. What
      // is dropped is remembered by list, so the record says it was cut.
      if (list.length < this.cap * 5) list.push(e);
      else
        this.pendingCut.set(e.cgroup, new Set([...(this.pendingCut.get(e.cgroup) ?? []), LIST_OF[e.kind]]));
      this.pending.set(e.cgroup, list);
    }
  }

  pendingCgroups(): string[] {
    return [...this.pending.keys()];
  }

  /** Drops what a cgroup that is not a target recorded (a broad prefix armed it). */
  drop(cgroup: string): void {
    this.pending.delete(cgroup);
    this.pendingCut.delete(cgroup);
  }

  /**
   * A target container the program traced that made no privileged call at all (an idle non-root
   * server on a running pod) still ran under the session: it gets its record, empty, so the advice
   * names it and what could not be observed, rather than the session seeming to have seen nothing.
   * Only one whose start was missed: one traced from its start has its exec's record coming.
   */
  traced(who: ContainerInfo): void {
    if (who.recordedFromStart || this.records.has(who.containerID)) return;
    this.log(`container ${who.pod}/${who.container} traced, no privileged call yet: empty record`);
    this.recordOf(who);
  }

  settle(cgroup: string, who: ContainerInfo): void {
    const events = this.pending.get(cgroup) ?? [];
    this.pending.delete(cgroup);
    const rec = this.recordOf(who);
    for (const e of events) this.merge(rec, e);
    const cut = this.pendingCut.get(cgroup);
    this.pendingCut.delete(cgroup);
    if (cut) for (const list of cut) this.markCut(rec, list);
  }

  private markCut(rec: PrivilegeRecord, list: PrivilegeList): void {
    rec.truncated = true;
    if (!rec.truncatedLists?.includes(list))
      rec.truncatedLists = [...(rec.truncatedLists ?? []), list].sort();
  }

  private recordOf(who: ContainerInfo): PrivilegeRecord {
    let rec = this.records.get(who.containerID);
    if (!rec) {
      rec = {
        pod: who.pod,
        podUID: who.podUID,
        ...(who.workload ? { workload: who.workload } : {}),
        container: who.container,
        containerID: who.containerID,
        recordedFromStart: who.recordedFromStart,
        mounts: (who.spec?.volumeMounts ?? []).map((m) => m.mountPath).sort(),
        credentials: [],
        idChanges: [],
        capChecks: [],
        execs: [],
        writes: [],
      };
      this.records.set(who.containerID, rec);
    }
    return rec;
  }

  private merge(rec: PrivilegeRecord, e: PrivilegeEvent): void {
    const { count } = e;
    switch (e.kind) {
      case 'check':
        return this.addTo(rec, 'capChecks', {
          capability: capabilityName(e.cap),
          syscall: syscallLabel(this.arch, e.nr),
          granted: e.granted,
          onBehalf: e.onBehalf,
          ...byRuntime(e.runtime),
          count,
        });
      case 'cred':
        return this.addTo(rec, 'credentials', {
          uid: e.uid,
          gid: e.gid,
          euid: e.euid,
          egid: e.egid,
          capEffective: hex(e.capEffective),
          ...byRuntime(e.runtime),
          count,
        });
      case 'setid':
        return this.addTo(rec, 'idChanges', {
          syscall: syscallLabel(this.arch, e.nr),
          args: e.args,
          result: e.result,
          ...byRuntime(e.runtime),
          count,
        });
      case 'exec':
        return this.addTo(rec, 'execs', {
          path: e.path,
          euid: e.euid,
          egid: e.egid,
          capEffective: [hex(e.capEffective[0]), hex(e.capEffective[1])],
          count,
        });
      case 'write': {
        const path = this.absolute(e.dir, e.path);
        return this.addTo(rec, offRoot(rec, e.rootfs, path) ? 'volumeWrites' : 'writes', {
          syscall: syscallLabel(this.arch, e.nr),
          path,
          rootfs: e.rootfs,
          count,
        });
      }
      case 'lowBind':
        return this.addTo(rec, 'lowBinds', { port: e.port, portStart: e.portStart, root: e.root, count });
      case 'portStart':
        // One network namespace per pod: should two values show (a sysctl changed while traced),
        // the higher one, under which more ports need the capability.
        rec.unprivilegedPortStart = Math.max(rec.unprivilegedPortStart ?? e.portStart, e.portStart);
        return;
      case 'life': {
        const life = (rec.life ??= { execProcesses: 0, stopSignals: 0 });
        if (e.what === 'execIn') life.execProcesses += count;
        else if (e.what === 'stopSignal') life.stopSignals += count;
        else life.entrypointExit = e.value;
        return;
      }
      case 'privateRead':
        return this.addTo(rec, 'privateReads', {
          path: e.path,
          mode: `0${e.mode.toString(8)}`,
          uid: e.uid,
          gid: e.gid,
          count,
        });
    }
  }

  /** A relative path made absolute from its directory's names; as given when they do not reach the root. */
  private absolute(dir: string, path: string): string {
    if (dir === '0' || path.startsWith('/')) return path;
    const names: string[] = [];
    let at = dir;
    for (let i = 0; i <= DIR_DEPTH; i++) {
      const d = this.dirs.get(at);
      if (!d?.parent || d.name === undefined) return path;
      if (d.parent === at) return posix.normalize(`/${[...names].reverse().join('/')}/${path}`);
      names.push(d.name);
      at = d.parent;
    }
    return path;
  }

  /** Sorted, so two runs compare cleanly. Copies: the table keeps counting. */
  containers(): PrivilegeRecord[] {
    const byText = <T>(items: T[]) =>
      [...items].sort((a, b) => entryId(a as object).localeCompare(entryId(b as object)));
    return [...this.records.values()]
      .sort((a, b) =>
        `${a.pod}/${a.container}/${a.containerID}`.localeCompare(`${b.pod}/${b.container}/${b.containerID}`),
      )
      .map((r) => structuredClone(r))
      .map((r) => ({
        ...r,
        credentials: byText(r.credentials),
        idChanges: byText(r.idChanges),
        capChecks: byText(r.capChecks),
        execs: byText(r.execs),
        writes: byText(r.writes),
        ...(r.volumeWrites?.length ? { volumeWrites: byText(r.volumeWrites) } : {}),
        ...(r.privateReads?.length ? { privateReads: byText(r.privateReads) } : {}),
        ...(r.lowBinds?.length ? { lowBinds: byText(r.lowBinds) } : {}),
      }));
  }

  node(): Pick<NodeRecord, 'privileges'> {
    return { privileges: this.containers() };
  }
}

/** A session's table on a node of a supported architecture, taking up what the node wrote before. */
export function privilegeRecords(view: SessionView, previous: NodeRecord | undefined): PrivilegeTable {
  // The recorder's routes exist for these architectures only: no session of another gets here.
  if (!isNodeArch(view.arch)) throw new Error(`no capabilities program for architecture ${view.arch}`);
  const table = new PrivilegeTable(view.arch, undefined, undefined, view.log);
  table.seed(previous?.privileges ?? []);
  return table;
}
