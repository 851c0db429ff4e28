// Privilege records as the agent writes them, shaped after what the three e2e workloads do.
import type { PrivilegeRecord } from '../../../lib/agent/recorders/privileges/types';
import type { PodSpec } from '../../../lib/securitycontext/types';

/** Containerd's default capability set, as cap_effective of a root container. */
const DEFAULT_CAPS = '0xa80425fb';

const base = (over: Partial<PrivilegeRecord>): PrivilegeRecord => ({
  pod: 'web-7c9f-abcde',
  podUID: 'uid-1',
  workload: 'web',
  container: 'nginx',
  containerID: 'containerd://1111',
  recordedFromStart: true,
  mounts: [],
  credentials: [],
  idChanges: [],
  capChecks: [],
  execs: [],
  writes: [],
  ...over,
});

const mmapProbe = (granted: boolean) => ({
  capability: 'CAP_SYS_ADMIN',
  syscall: 'mmap',
  granted,
  onBehalf: false,
  count: 120,
});

/**
 * A container already running when the session started that made no privileged call while traced
 * (an idle non-root server): the agent writes its record, empty and not from its start.
 */
export const idleRunning: PrivilegeRecord = base({ recordedFromStart: false });

/** Debian nginx as root: binds :80, creates its logs and pid file, workers switch to www-data (33). */
export const nginxRoot: PrivilegeRecord = base({
  credentials: [
    { uid: 0, gid: 0, euid: 0, egid: 0, capEffective: DEFAULT_CAPS, count: 1 },
    { uid: 0, gid: 33, euid: 0, egid: 33, capEffective: DEFAULT_CAPS, count: 2 },
    { uid: 33, gid: 33, euid: 33, egid: 33, capEffective: '0x0', count: 2 },
  ],
  idChanges: [
    { syscall: 'setgid', args: [33], result: 0, count: 2 },
    { syscall: 'setgroups', args: [1], result: 0, count: 2 },
    { syscall: 'setuid', args: [33], result: 0, count: 2 },
  ],
  capChecks: [
    mmapProbe(false),
    { capability: 'CAP_NET_BIND_SERVICE', syscall: 'bind', granted: true, onBehalf: false, count: 2 },
    { capability: 'CAP_SETGID', syscall: 'setgid', granted: true, onBehalf: false, count: 2 },
    { capability: 'CAP_SETGID', syscall: 'setgroups', granted: true, onBehalf: false, count: 2 },
    { capability: 'CAP_SETUID', syscall: 'setuid', granted: true, onBehalf: false, count: 2 },
    { capability: 'CAP_DAC_OVERRIDE', syscall: 'faccessat2', granted: true, onBehalf: true, count: 1 },
  ],
  writes: [
    { syscall: 'openat', path: '/var/log/nginx/error.log', rootfs: 'yes', count: 2 },
    { syscall: 'openat', path: '/var/log/nginx/access.log', rootfs: 'yes', count: 1 },
    { syscall: 'openat', path: '/run/nginx.pid', rootfs: 'yes', count: 1 },
    { syscall: 'openat', path: '/dev/null', rootfs: 'no', count: 3 },
  ],
});

/**
 * nginx as root on containerd 2, which sets net.ipv4.ip_unprivileged_port_start=0 in every pod: its
 * bind of :80 made no capability check at all, so only the bind itself shows it.
 */
export const nginxRootPortStart0: PrivilegeRecord = {
  ...nginxRoot,
  capChecks: nginxRoot.capChecks.filter((c) => c.capability !== 'CAP_NET_BIND_SERVICE'),
  lowBinds: [{ port: 80, portStart: 0, root: true, count: 2 }],
  unprivilegedPortStart: 0,
};

/** A non-root server (uid 1000) binding :80, which it can only because the runtime set the sysctl to 0. */
export const userBinds80: PrivilegeRecord = base({
  pod: 'low-7d8e-a1b2c',
  workload: 'low',
  container: 'web',
  containerID: 'containerd://7777',
  credentials: [{ uid: 1000, gid: 1000, euid: 1000, egid: 1000, capEffective: '0x0', count: 2 }],
  lowBinds: [{ port: 80, portStart: 0, root: false, count: 1 }],
  unprivilegedPortStart: 0,
});

export const userBinds80Spec: PodSpec = {
  securityContext: { sysctls: [{ name: 'kernel.shm_rmid_forced', value: '1' }] },
  containers: [{ name: 'web', ports: [{ containerPort: 80 }] }],
};

/** The unprivileged nginx image on 8080 under the seed's pod securityContext (uid/gid 1000). */
export const nginxUnprivileged: PrivilegeRecord = base({
  pod: 'web-np-5d4c-xyz12',
  workload: 'web-np',
  containerID: 'containerd://2222',
  credentials: [{ uid: 1000, gid: 1000, euid: 1000, egid: 1000, capEffective: '0x0', count: 3 }],
  capChecks: [mmapProbe(false)],
  writes: [
    { syscall: 'openat', path: '/tmp/nginx.pid', rootfs: 'yes', count: 1 },
    { syscall: 'mkdir', path: '/tmp/client_temp', rootfs: 'unknown', count: 1 },
    { syscall: 'mkdir', path: '/tmp/proxy_temp', rootfs: 'unknown', count: 1 },
    { syscall: 'openat', path: '/dev/stderr', rootfs: 'no', count: 1 },
  ],
});

/**
 * A non-root image (USER 1000) with an exec readiness probe: for each probe the runtime's init
 * joins the running container as root, switches to uid 1000 (setgroups, setgid, setuid, with their
 * capability checks), then execs the probe. Those are the runtime's; the workload never was root.
 */
export const execProbeNonRoot: PrivilegeRecord = base({
  pod: 'probe-7f6d-q1w2e',
  workload: 'probed',
  container: 'app',
  containerID: 'containerd://5555',
  credentials: [
    { uid: 1000, gid: 1000, euid: 1000, egid: 1000, capEffective: '0x0', count: 9 },
    { uid: 0, gid: 1000, euid: 0, egid: 1000, capEffective: DEFAULT_CAPS, runtime: true, count: 8 },
    { uid: 1000, gid: 1000, euid: 1000, egid: 1000, capEffective: DEFAULT_CAPS, runtime: true, count: 8 },
  ],
  idChanges: [
    { syscall: 'setgroups', args: [0], result: 0, runtime: true, count: 8 },
    { syscall: 'setgid', args: [1000], result: 0, runtime: true, count: 8 },
    { syscall: 'setuid', args: [1000], result: 0, runtime: true, count: 8 },
  ],
  capChecks: [
    mmapProbe(false),
    {
      capability: 'CAP_SETGID',
      syscall: 'setgroups',
      granted: true,
      onBehalf: false,
      runtime: true,
      count: 8,
    },
    { capability: 'CAP_SETGID', syscall: 'setgid', granted: true, onBehalf: false, runtime: true, count: 8 },
    { capability: 'CAP_SETUID', syscall: 'setuid', granted: true, onBehalf: false, runtime: true, count: 8 },
  ],
  writes: [{ syscall: 'openat', path: '/dev/null', rootfs: 'no', count: 2 }],
});

export const execProbeSpec: PodSpec = {
  containers: [{ name: 'app', image: '127.0.0.1:5000/probed:latest', ports: [{ containerPort: 8080 }] }],
};

/**
 * A non-root service that writes hundreds of files into its data volume at first start, and one
 * lock file on the root filesystem. Its volume writes hit their bound; its root filesystem list
 * holds the lock file, since the two are bounded apart.
 */
export const volumeFiller: PrivilegeRecord = base({
  pod: 'store-5c7d-a1b2c',
  workload: 'store',
  container: 'store',
  containerID: 'containerd://6666',
  mounts: ['/srv/data'],
  credentials: [{ uid: 1000, gid: 1000, euid: 1000, egid: 1000, capEffective: '0x0', count: 2 }],
  writes: [{ syscall: 'openat', path: '/var/run/store.lock', rootfs: 'yes', count: 1 }],
  volumeWrites: Array.from({ length: 256 }, (_, i) => ({
    syscall: 'openat',
    path: `/srv/data/chunk-${String(i).padStart(3, '0')}`,
    rootfs: 'no' as const,
    count: 1,
  })),
  truncated: true,
  truncatedLists: ['volumeWrites'],
});

/** The same service, its root filesystem writes beyond their bound: some are unknown. */
export const rootfsFiller: PrivilegeRecord = {
  ...volumeFiller,
  writes: Array.from({ length: 256 }, (_, i) => ({
    syscall: 'openat',
    path: `/var/lib/store/cache-${String(i).padStart(3, '0')}`,
    rootfs: 'yes' as const,
    count: 1,
  })),
  volumeWrites: [],
  truncatedLists: ['writes'],
};

/**
 * As an agent before volume writes had their own list wrote it: the lock file was lost among
 * the volume's writes, and only `truncated` says a list was cut.
 */
export const oldAgentFiller: PrivilegeRecord = {
  ...volumeFiller,
  writes: volumeFiller.volumeWrites ?? [],
  volumeWrites: undefined,
  truncatedLists: undefined,
};

export const volumeFillerSpec: PodSpec = {
  containers: [{ name: 'store', volumeMounts: [{ name: 'data', mountPath: '/srv/data' }] }],
  volumes: [{ name: 'data', emptyDir: {} }],
};

/** redis as root, two replicas: no capability needed, nothing written (no save during the trace). */
export const redisReplicas: PrivilegeRecord[] = ['a', 'b'].map((s, i) =>
  base({
    pod: `cache-6b8d-${s}`,
    workload: 'cache',
    container: 'redis',
    containerID: `containerd://33${i}`,
    mounts: ['/data'],
    credentials: [{ uid: 0, gid: 0, euid: 0, egid: 0, capEffective: DEFAULT_CAPS, count: 1 }],
    capChecks: [
      mmapProbe(false),
      { capability: 'CAP_SYS_RESOURCE', syscall: 'prlimit64', granted: false, onBehalf: false, count: 1 },
    ],
    writes: [{ syscall: 'openat', path: '/data/appendonly.aof', rootfs: 'no', count: 1 }],
  }),
);

/** redis reading its config, which only root and its group may read: it stays root. */
export const redisPrivateConfig: PrivilegeRecord = {
  ...redisReplicas[0],
  privateReads: [{ path: '/etc/redis/redis.conf', mode: '0640', uid: 0, gid: 999, count: 1 }],
};

/** The same redis, traced after it started: nothing about its start-up is known. */
export const redisLate: PrivilegeRecord = { ...redisReplicas[0], recordedFromStart: false, credentials: [] };

/** A privileged pod that adds capabilities it never uses. */
export const privilegedTool: PrivilegeRecord = base({
  pod: 'tool',
  workload: 'tool',
  container: 'tool',
  containerID: 'containerd://4444',
  credentials: [{ uid: 0, gid: 0, euid: 0, egid: 0, capEffective: '0x1ffffffffff', count: 2 }],
  capChecks: [
    mmapProbe(true),
    { capability: 'CAP_CHOWN', syscall: 'fchownat', granted: true, onBehalf: false, count: 1 },
  ],
  execs: [{ path: '/usr/bin/ping', euid: [0, 0], egid: [0, 0], capEffective: ['0x0', '0x2000'], count: 1 }],
  writes: [{ syscall: 'openat', path: 'out.txt', rootfs: 'yes', count: 1 }],
});

export const nginxRootSpec: PodSpec = {
  containers: [{ name: 'nginx', image: '127.0.0.1:5000/nginx:latest', ports: [{ containerPort: 80 }] }],
};

export const nginxUnprivilegedSpec: PodSpec = {
  securityContext: { runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [
    {
      name: 'nginx',
      image: '127.0.0.1:5000/nginx-unprivileged:latest',
      securityContext: { allowPrivilegeEscalation: false },
      ports: [{ containerPort: 8080 }],
    },
  ],
};

export const redisSpec: PodSpec = {
  containers: [{ name: 'redis', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
  volumes: [{ name: 'data', emptyDir: {} }],
};

export const privilegedSpec: PodSpec = {
  hostPID: true,
  containers: [
    {
      name: 'tool',
      securityContext: { privileged: true, capabilities: { add: ['NET_ADMIN', 'CHOWN'] } },
    },
  ],
};
