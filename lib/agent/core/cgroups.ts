/**
 * Container → cgroup v2 directory, the way kubelet and the container runtimes lay them out, and the
 * cgroup id bpftrace's `cgroup` builtin returns (the directory's inode number).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type CgroupDriver = 'systemd' | 'cgroupfs';
export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface Cgroup2Mount {
  /** Where the cgroup2 hierarchy is mounted, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified. */
  mountPoint: string;
  /** The hierarchy path the mount shows (mountinfo field 4): "/" unless a sub-tree is mounted. */
  root: string;
}

/** Decodes mountinfo's octal escapes (\040 for a space, …). */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The first cgroup2 mount in a /proc/<pid>/mountinfo text. */
export function parseCgroup2Mount(mountinfo: string): Cgroup2Mount | undefined {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup2' || fields.length < 5) continue;
    return { root: unescapeMountinfo(fields[3]), mountPoint: unescapeMountinfo(fields[4]) };
  }
  return undefined;
}

export function findCgroup2Mount(mountinfoFile = '/proc/self/mountinfo'): Cgroup2Mount {
  const m = parseCgroup2Mount(fs.readFileSync(mountinfoFile, 'utf8'));
  if (!m) throw new Error(`no cgroup2 filesystem is mounted (looked in ${mountinfoFile})`);
  return m;
}

/** The runtime and bare id of a Pod status containerID ("containerd://abc…"). */
export function parseContainerID(
  containerID: string,
): { runtime: 'containerd' | 'cri-o' | 'docker'; id: string } | undefined {
  const m = /^([a-z-]+):\/\/([0-9a-f]{12,128})$/.exec(containerID);
  if (!m) return undefined;
  const runtime =
    m[1] === 'containerd'
      ? 'containerd'
      : m[1] === 'cri-o'
        ? 'cri-o'
        : m[1] === 'docker'
          ? 'docker'
          : undefined;
  return runtime ? { runtime, id: m[2] } : undefined;
}

const QOS_SLUG: Record<QosClass, string> = {
  Guaranteed: '',
  Burstable: 'burstable',
  BestEffort: 'besteffort',
};

/** The pod-level cgroup directory, relative to the cgroup2 mount (no leading or trailing slash). */
export function podCgroupDir(driver: CgroupDriver, qos: QosClass, podUID: string): string {
  const slug = QOS_SLUG[qos];
  if (driver === 'systemd') {
    // systemd escapes "-" in unit names, so kubelet writes the UID with underscores.
    const uid = podUID.replace(/-/g, '_');
    return slug
      ? `kubepods.slice/kubepods-${slug}.slice/kubepods-${slug}-pod${uid}.slice`
      : `kubepods.slice/kubepods-pod${uid}.slice`;
  }
  return slug ? `kubepods/${slug}/pod${podUID}` : `kubepods/pod${podUID}`;
}

/** The container's leaf directory name under its pod directory. */
export function containerLeaf(driver: CgroupDriver, containerID: string): string | undefined {
  const c = parseContainerID(containerID);
  if (!c) return undefined;
  if (driver === 'systemd') {
    const prefix = c.runtime === 'containerd' ? 'cri-containerd' : c.runtime === 'cri-o' ? 'crio' : 'docker';
    return `${prefix}-${c.id}.scope`;
  }
  return c.runtime === 'cri-o' ? `crio-${c.id}` : c.id;
}

export function containerCgroupDir(
  driver: CgroupDriver,
  qos: QosClass,
  podUID: string,
  containerID: string,
): string | undefined {
  const leaf = containerLeaf(driver, containerID);
  return leaf ? `${podCgroupDir(driver, qos, podUID)}/${leaf}` : undefined;
}

/**
 * The container id a cgroup path (relative or as cgroup_mkdir reports it) names, from its first
 * component below the pod directory; runtime helpers such as crio-conmon-<id> name none.
 */
export function containerIdOfPath(cgroupPath: string): string | undefined {
  const parts = cgroupPath.split('/').filter(Boolean);
  const pod = parts.findIndex((p) =>
    /^(kubepods-(burstable-|besteffort-)?pod.+\.slice|pod[0-9a-f-]{36})$/.test(p),
  );
  const leaf = pod >= 0 ? parts[pod + 1] : undefined;
  if (!leaf) return undefined;
  const m = /^(?:(?:cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?$/.exec(leaf);
  return m?.[1];
}

/** The pod UID named by a pod cgroup directory component, dashes restored. */
export function podUIDOfPath(cgroupPath: string): string | undefined {
  for (const p of cgroupPath.split('/')) {
    const m = /^(?:kubepods-(?:burstable-|besteffort-)?pod(.+)\.slice|pod([0-9a-f-]{36}))$/.exec(p);
    if (m) return (m[1] ?? m[2]).replace(/_/g, '-');
  }
  return undefined;
}

/** Which layout the node uses, by which top-level directory exists. */
export function detectDriver(mountPoint: string, exists = fs.existsSync): CgroupDriver | undefined {
  if (exists(path.join(mountPoint, 'kubepods.slice'))) return 'systemd';
  if (exists(path.join(mountPoint, 'kubepods'))) return 'cgroupfs';
  return undefined;
}

/** The cgroup id of a directory: its inode, as a decimal string (u64, so never a JS number). */
export function cgroupIdOf(dir: string): string | undefined {
  try {
    return fs.statSync(dir, { bigint: true }).ino.toString();
  } catch {
    return undefined;
  }
}

/**
 * The largest cgroup id of `dir` and the directories below it, down to `depth` levels: every cgroup
 * made afterwards has a larger one (cgroup2 ids are kernfs node ids, allocated in increasing order,
 * the 32 bits above the inode number counting its wraps). A directory removed meanwhile is passed
 * over; undefined when `dir` itself cannot be read.
 */
export function newestCgroupIdUnder(dir: string, depth = 4): string | undefined {
  let newest: bigint | undefined;
  const walk = (d: string, left: number) => {
    let entries: fs.Dirent[];
    try {
      const id = fs.statSync(d, { bigint: true }).ino;
      if (newest === undefined || id > newest) newest = id;
      entries = left > 0 ? fs.readdirSync(d, { withFileTypes: true }) : [];
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name), left - 1);
  };
  walk(dir, depth);
  return newest?.toString();
}

/**
 * Converts between paths relative to the mount and hierarchy paths as the cgroup_mkdir tracepoint
 * reports them (always from the hierarchy root, with a leading slash).
 */
export class CgroupLayout {
  constructor(
    readonly mount: Cgroup2Mount,
    readonly driver: CgroupDriver,
  ) {}

  /** Hierarchy path of a mount-relative directory. */
  hierarchyPath(rel: string): string {
    return path.posix.join(this.mount.root, rel);
  }

  /** Absolute filesystem directory of a hierarchy path, if it lies under the mount. */
  dirOfHierarchyPath(p: string): string | undefined {
    const rel = path.posix.relative(this.mount.root, p);
    if (rel.startsWith('..')) return undefined;
    return path.join(this.mount.mountPoint, rel);
  }

  /** The prefix of every pod cgroup on the node, for pods not known yet (trailing slash included). */
  nodePrefix(): string {
    return `${this.hierarchyPath(this.driver === 'systemd' ? 'kubepods.slice' : 'kubepods')}/`;
  }

  /** The newest cgroup id under the node's pods, read as a program starts (ProgramTargets.newerThan). */
  newestPodCgroupId(): string | undefined {
    const dir = this.dirOfHierarchyPath(this.nodePrefix());
    return dir && newestCgroupIdUnder(dir);
  }

  /** The prefix cgroup_mkdir paths of the pod's containers start with (trailing slash included). */
  podPrefix(qos: QosClass, podUID: string): string {
    return `${this.hierarchyPath(podCgroupDir(this.driver, qos, podUID))}/`;
  }

  containerDir(qos: QosClass, podUID: string, containerID: string): string | undefined {
    const rel = containerCgroupDir(this.driver, qos, podUID, containerID);
    return rel
      ? path.join(this.mount.mountPoint, path.posix.relative(this.mount.root, this.hierarchyPath(rel)))
      : undefined;
  }
}

// --- QoS class, for pods whose status does not carry it yet -------------------------------------

interface Resources {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}
export interface PodForQos {
  spec?: { containers?: { resources?: Resources }[]; initContainers?: { resources?: Resources }[] };
  status?: { qosClass?: string };
}

const QOS_RESOURCES = ['cpu', 'memory'];

/** pod.status.qosClass, else kubelet's rule (GetPodQOS) over cpu and memory requests and limits. */
export function qosClassOf(pod: PodForQos): QosClass {
  const s = pod.status?.qosClass;
  if (s === 'Guaranteed' || s === 'Burstable' || s === 'BestEffort') return s;
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  let any = false;
  let guaranteed = containers.length > 0;
  for (const c of containers) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    for (const r of QOS_RESOURCES) {
      if (isNonZero(req[r]) || isNonZero(lim[r])) any = true;
      // Requests default to limits when unset, so only explicit differences break Guaranteed.
      const l = lim[r];
      const q = req[r] ?? l;
      if (!isNonZero(l) || quantity(q) !== quantity(l)) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A resource quantity as a number ("500m" → 0.5, "1Gi" → 2^30); NaN when unparsable. */
export function quantity(q: string | undefined): number {
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec((q ?? '').trim());
  if (!m || !(m[2] in SUFFIX)) return NaN;
  return Number(m[1]) * SUFFIX[m[2]];
}

function isNonZero(q: string | undefined): boolean {
  const n = quantity(q);
  return q !== undefined && (Number.isNaN(n) || n !== 0);
}
