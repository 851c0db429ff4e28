// Runs pods the way kubelet + containerd would on harden-node: a Pod object bound to the node, a network
// namespace plumbed as Calico CNI would (a routed veth per pod, see createSandbox), runc containers from a
// busybox rootfs in the systemd-driver cgroup layout, and a kubelet-like status patch. Pod state is kept on
// disk so cleanupAll() (or a later test process) can remove everything a crashed test left behind.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_IP, NODE_IP6, NODE_NAME } from './cluster';
import { testenvEnv } from './env';
import { kubectl, kubectlJson, run, runRaw, type RunResult } from './exec';
import { ensureNamespace } from './namespace';
export { ensureNamespace };

export type Qos = 'besteffort' | 'burstable' | 'guaranteed';

export interface ContainerSpec {
  name: string;
  /** argv of the entrypoint; busybox applets are on PATH (/bin). */
  args: string[];
  /** An OCI linux.seccomp object, applied by runc from the first instruction. */
  seccompProfile?: object;
  env?: Record<string, string>;
}

export interface PodOptions {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  containers: ContainerSpec[];
  qos?: Qos;
  hostNetwork?: boolean;
  /** false: create the Pod object and sandbox only; start containers later with startContainer(). */
  start?: boolean;
}

export interface PodContainer {
  name: string;
  /** 64 hex digits; also the runc container id. */
  id: string;
  pid: number;
  /** cgroupsPath, relative to a hierarchy root (e.g. /sys/fs/cgroup/unified). */
  cgroupPath: string;
  restartCount: number;
  startedAt: string;
  logFile: string;
}

export interface Pod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  qos: Qos;
  hostNetwork: boolean;
  ip: string;
  ip6?: string;
  netns?: string;
  veth?: string;
  specs: ContainerSpec[];
  /** Started containers, in start order; a restarted container replaces its entry. */
  containers: PodContainer[];
  /** Previous instances (for lastState in the status). */
  terminated: { name: string; id: string; startedAt: string; finishedAt: string }[];
  createdAt: string;
}

const BRIDGE = 'harden0';
const BASE_IMAGE = 'docker.io/library/busybox:latest';
// containerd's default capability set for a non-privileged container.
const DEFAULT_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

// ----------------------------------------------------------------------------------------- paths

function stateDir(): string {
  const { state } = testenvEnv();
  if (!fs.existsSync(path.join(state, 'admin.kubeconfig'))) {
    throw new Error(`testenv is not up (no ${state}/admin.kubeconfig): run scripts/testenv/testenv up`);
  }
  return state;
}
const runcRoot = (): string => path.join(stateDir(), 'runc');
const podDir = (ns: string, name: string): string => path.join(stateDir(), 'pods', `${ns}_${name}`);
const runc = (args: string[]): Promise<string> => run('runc', ['--root', runcRoot(), ...args]);

/** The cgroup v2 mount: the hybrid layout's unified mount, or /sys/fs/cgroup on a pure v2 host. */
export function unifiedRoot(): string {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n');
  const v2 = mounts.map((l) => l.split(' ')).find((f) => f[2] === 'cgroup2');
  if (!v2) throw new Error('no cgroup2 hierarchy mounted');
  return v2[1];
}

/** Every cgroup v1 hierarchy mount point (empty on a pure v2 host). */
export function v1Roots(): string[] {
  return fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup')
    .map((f) => f[1]);
}

/** The kubelet systemd-driver pod slice, e.g. /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice */
export function podSlice(uid: string, qos: Qos): string {
  const u = uid.replace(/-/g, '_');
  if (qos === 'guaranteed') return `/kubepods.slice/kubepods-pod${u}.slice`;
  return `/kubepods.slice/kubepods-${qos}.slice/kubepods-${qos}-pod${u}.slice`;
}

export function containerCgroupPath(uid: string, qos: Qos, id: string): string {
  return `${podSlice(uid, qos)}/cri-containerd-${id}.scope`;
}

/** Absolute cgroup v2 directory of a container (its inode is the cgroup id bpftrace reports). */
export function unifiedDir(c: Pick<PodContainer, 'cgroupPath'>): string {
  return path.join(unifiedRoot(), c.cgroupPath);
}

// -------------------------------------------------------------------------------------- rootfs

let baseCache: string | undefined;

/** A shared, read-only busybox-static tree under the cache dir, built once per busybox binary. */
async function baseRootfs(): Promise<string> {
  if (baseCache && fs.existsSync(baseCache)) return baseCache;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!busybox) throw new Error('busybox-static is not installed: run scripts/testenv/testenv deps');
  const digest = createHash('sha256').update(fs.readFileSync(busybox)).digest('hex');
  const dir = path.join(testenvEnv().cache, 'rootfs', `busybox-${digest.slice(0, 12)}`);
  if (!fs.existsSync(dir)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    for (const d of [
      'bin',
      'etc',
      'proc',
      'sys',
      'dev',
      'tmp',
      'var/log',
      'var/run',
      'www',
      'root',
      'home',
    ]) {
      fs.mkdirSync(path.join(tmp, d), { recursive: true });
    }
    fs.chmodSync(path.join(tmp, 'tmp'), 0o1777);
    fs.copyFileSync(busybox, path.join(tmp, 'bin', 'busybox'));
    fs.chmodSync(path.join(tmp, 'bin', 'busybox'), 0o755);
    // Relative-to-root symlinks: run busybox inside the tree.
    await run('chroot', [tmp, '/bin/busybox', '--install', '-s', '/bin']);
    fs.writeFileSync(
      path.join(tmp, 'etc', 'passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    );
    fs.writeFileSync(path.join(tmp, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
    fs.writeFileSync(path.join(tmp, 'www', 'index.html'), 'hello from harden testenv\n');
    try {
      fs.renameSync(tmp, dir);
    } catch (e) {
      // Another process built it first.
      fs.rmSync(tmp, { recursive: true, force: true });
      if (!fs.existsSync(dir)) throw e;
    }
  }
  baseCache = dir;
  return dir;
}

/** A writable root for one container: overlayfs over the shared base (falls back to a copy). */
async function containerRootfs(dir: string): Promise<string> {
  const base = await baseRootfs();
  const merged = path.join(dir, 'rootfs');
  for (const d of ['rootfs', 'upper', 'work']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const r = await runRaw('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${base},upperdir=${path.join(dir, 'upper')},workdir=${path.join(dir, 'work')}`,
    merged,
  ]);
  if (r.code !== 0) await run('cp', ['-a', `${base}/.`, merged]);
  return merged;
}

async function unmountUnder(dir: string): Promise<void> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const targets = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m): m is string => !!m && (m.startsWith(prefix) || m === dir))
    .sort()
    .reverse();
  for (const m of targets) await runRaw('umount', ['-l', m]);
}

// ---------------------------------------------------------------------------------- OCI config

interface OciSpec {
  process: {
    terminal: boolean;
    args: string[];
    env: string[];
    cwd: string;
    noNewPrivileges?: boolean;
    capabilities?: Record<string, string[]>;
    [k: string]: unknown;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: { destination: string; type: string; source: string; options?: string[] }[];
  linux: {
    namespaces: { type: string; path?: string }[];
    cgroupsPath?: string;
    seccomp?: object;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

let templateCache: string | undefined;

/** `runc spec` output, generated once per process. */
async function ociTemplate(): Promise<string> {
  if (templateCache) return templateCache;
  const tmp = fs.mkdtempSync(path.join(stateDir(), 'spec-'));
  try {
    await run('runc', ['spec'], { cwd: tmp });
    templateCache = fs.readFileSync(path.join(tmp, 'config.json'), 'utf8');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return templateCache;
}

async function ociConfig(
  pod: Pod,
  spec: ContainerSpec,
  rootfs: string,
  cgroupPath: string,
): Promise<OciSpec> {
  const c = JSON.parse(await ociTemplate()) as OciSpec;
  const dir = podDir(pod.namespace, pod.name);
  c.process.terminal = false;
  c.process.args = spec.args;
  c.process.cwd = '/';
  c.process.env = [
    'PATH=/bin:/sbin:/usr/bin:/usr/sbin',
    `HOSTNAME=${pod.hostNetwork ? hostName() : pod.name}`,
    ...Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  // Kubernetes' default allowPrivilegeEscalation=true; runc installs seccomp while it still has caps.
  c.process.noNewPrivileges = false;
  c.process.capabilities = {
    bounding: DEFAULT_CAPS,
    effective: DEFAULT_CAPS,
    permitted: DEFAULT_CAPS,
  };
  c.root = { path: rootfs, readonly: false };
  const bind = (name: string, dest: string) => ({
    destination: dest,
    type: 'bind',
    source: path.join(dir, name),
    options: ['rbind', 'rw'],
  });
  c.mounts.push(bind('hosts', '/etc/hosts'), bind('resolv.conf', '/etc/resolv.conf'));
  if (pod.hostNetwork) {
    // Host network and UTS namespaces, like a hostNetwork pod.
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'network' && n.type !== 'uts');
    delete c.hostname;
  } else {
    c.hostname = pod.name;
    c.mounts.push(bind('hostname', '/etc/hostname'));
    c.linux.namespaces = c.linux.namespaces.filter((n) => n.type !== 'network');
    c.linux.namespaces.push({ type: 'network', path: `/var/run/netns/${pod.netns}` });
  }
  c.linux.cgroupsPath = cgroupPath;
  if (spec.seccompProfile) c.linux.seccomp = spec.seccompProfile;
  return c;
}

function hostName(): string {
  return fs.readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
}

// ------------------------------------------------------------------------------------- network

const shortHash = (ns: string, name: string): string =>
  createHash('sha256').update(`${ns}/${name}`).digest('hex').slice(0, 10);

/** The next free address of 10.244.0.0/24, claimed with an exclusive file create (cross-process). */
function allocateIp(key: string): number {
  const dir = path.join(stateDir(), 'ipam');
  fs.mkdirSync(dir, { recursive: true });
  for (let n = 2; n < 255; n++) {
    try {
      fs.writeFileSync(path.join(dir, `10.244.0.${n}`), key, { flag: 'wx' });
      return n;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  throw new Error('pod network 10.244.0.0/24 is full');
}

function releaseIp(ip: string | undefined): void {
  if (ip && ip !== NODE_IP) fs.rmSync(path.join(stateDir(), 'ipam', ip), { force: true });
}

function bridgeHasIpv6(): boolean {
  try {
    return fs
      .readFileSync('/proc/net/if_inet6', 'utf8')
      .split('\n')
      .some((l) => l.trim().endsWith(BRIDGE));
  } catch {
    return false;
  }
}

async function removeNetns(netns: string | undefined, veth: string | undefined): Promise<void> {
  if (netns && fs.existsSync(`/var/run/netns/${netns}`)) {
    const pids = await runRaw('ip', ['netns', 'pids', netns]);
    for (const p of pids.stdout.split(/\s+/).filter(Boolean)) killQuietly(Number(p), 'SIGKILL');
    await runRaw('ip', ['netns', 'delete', netns]);
  }
  if (veth && fs.existsSync(`/sys/class/net/${veth}`)) await runRaw('ip', ['link', 'delete', veth]);
}

/** Calico's workload interface prefix (felix's FELIX_INTERFACEPREFIX): every pod's host-side veth has it. */
export const FELIX_IFACE_PREFIX = 'cali';
// What Calico CNI gives a pod: a fixed MAC on the host side, so the pod's IPv6 gateway is a fixed link-local.
const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
const GW4 = '169.254.1.1';
const GW6 = 'fe80::ecee:eeff:feee:eeee';

/**
 * The host-side interface name felix expects for a pod: libcalico-go's VethNameForWorkload, i.e.
 * prefix + the first 11 hex digits of sha1("<namespace>.<pod>") (15 characters, the IFNAMSIZ limit).
 */
export function felixVethName(namespace: string, pod: string): string {
  const h = createHash('sha1').update(`${namespace}.${pod}`).digest('hex');
  return `${FELIX_IFACE_PREFIX}${h.slice(0, 11)}`;
}

const sysctl = (key: string, value: string): void =>
  fs.writeFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, value);

/**
 * The pod sandbox in Calico's routed layout, so that a NetworkPolicy engine (felix) sees every pod: a veth
 * named felixVethName() that is a point-to-point L3 interface (no bridge port: bridged traffic would carry
 * the bridge as its iptables interface and escape per-pod rules), /32 and /128 pod addresses, a default
 * route via a link-local gateway the host answers by proxy ARP (IPv6: the host veth's own link-local, fixed
 * by its MAC), and a host route per pod. harden0 only holds the node's addresses, the source of those routes.
 */
async function createSandbox(pod: Pod): Promise<void> {
  const ns = `harden-${shortHash(pod.namespace, pod.name)}`;
  const veth = felixVethName(pod.namespace, pod.name);
  pod.netns = ns;
  pod.veth = veth;
  await removeNetns(ns, veth); // a crashed earlier run of the same pod
  const n = allocateIp(`${pod.namespace}/${pod.name}`);
  pod.ip = `10.244.0.${n}`;
  if (bridgeHasIpv6()) pod.ip6 = `fd00:10:244::${n.toString(16)}`;
  await run('ip', ['netns', 'add', ns]);
  const hostEnd = ['link', 'add', veth, 'address', HOST_VETH_MAC, 'type', 'veth'];
  await run('ip', [...hostEnd, 'peer', 'name', 'eth0', 'netns', ns]);
  sysctl(`net.ipv4.conf.${veth}.proxy_arp`, '1');
  sysctl(`net.ipv4.neigh.${veth}.proxy_delay`, '0');
  sysctl(`net.ipv4.conf.${veth}.forwarding`, '1');
  if (pod.ip6) {
    sysctl(`net.ipv6.conf.${veth}.forwarding`, '1');
    sysctl(`net.ipv6.conf.${veth}.accept_ra`, '0');
    // The gateway link-local must answer neighbour solicitations at once, not after DAD (about 1 s).
    sysctl(`net.ipv6.conf.${veth}.accept_dad`, '0');
  }
  await run('ip', ['link', 'set', veth, 'up']);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', ns, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0']);
  if (pod.ip6) await run('ip', ['-n', ns, '-6', 'addr', 'add', `${pod.ip6}/128`, 'dev', 'eth0', 'nodad']);
  await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', ns, 'route', 'add', GW4, 'dev', 'eth0', 'scope', 'link']);
  await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', GW4, 'dev', 'eth0']);
  if (pod.ip6) await run('ip', ['-n', ns, '-6', 'route', 'add', 'default', 'via', GW6, 'dev', 'eth0']);
  // src: host-originated traffic to the pod comes from the node's pod-network address.
  await run('ip', ['route', 'replace', `${pod.ip}/32`, 'dev', veth, 'scope', 'link', 'src', NODE_IP]);
  if (pod.ip6) await run('ip', ['-6', 'route', 'replace', `${pod.ip6}/128`, 'dev', veth, 'src', NODE_IP6]);
}

function writePodFiles(pod: Pod): void {
  const dir = podDir(pod.namespace, pod.name);
  const host = pod.hostNetwork ? hostName() : pod.name;
  fs.writeFileSync(
    path.join(dir, 'hosts'),
    `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${pod.ip}\t${host}\n`,
  );
  fs.writeFileSync(
    path.join(dir, 'resolv.conf'),
    `search ${pod.namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n`,
  );
  fs.writeFileSync(path.join(dir, 'hostname'), `${host}\n`);
}

// --------------------------------------------------------------------------------- pod records

function savePod(pod: Pod): void {
  const f = path.join(podDir(pod.namespace, pod.name), 'pod.json');
  fs.writeFileSync(`${f}.tmp`, JSON.stringify(pod, null, 2));
  fs.renameSync(`${f}.tmp`, f);
}

function loadPods(): Pod[] {
  const dir = path.join(stateDir(), 'pods');
  if (!fs.existsSync(dir)) return [];
  const pods: Pod[] = [];
  for (const d of fs.readdirSync(dir)) {
    const f = path.join(dir, d, 'pod.json');
    if (fs.existsSync(f)) pods.push(JSON.parse(fs.readFileSync(f, 'utf8')) as Pod);
  }
  return pods;
}

const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function resources(qos: Qos): object {
  if (qos === 'guaranteed') {
    const r = { cpu: '100m', memory: '64Mi' };
    return { requests: r, limits: r };
  }
  if (qos === 'burstable') return { requests: { cpu: '10m' } };
  return {};
}

let imageId: string | undefined;
function busyboxImageId(): string {
  if (!imageId) {
    const bin = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p)) ?? '/bin/busybox';
    imageId = `docker.io/library/busybox@sha256:${createHash('sha256').update(fs.readFileSync(bin)).digest('hex')}`;
  }
  return imageId;
}

/** The status kubelet would write for the pod's current containers. */
function podStatus(pod: Pod): object {
  const started = pod.specs.map((s) => pod.containers.find((c) => c.name === s.name));
  const allRunning = started.every((c) => !!c);
  const anyRunning = started.some((c) => !!c);
  const cond = (type: string, ok: boolean) => ({
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: now(),
    ...(ok ? {} : { reason: 'ContainersNotReady' }),
  });
  const ips = [{ ip: pod.ip }, ...(pod.ip6 ? [{ ip: pod.ip6 }] : [])];
  return {
    phase: anyRunning ? 'Running' : 'Pending',
    hostIP: NODE_IP,
    hostIPs: [{ ip: NODE_IP }],
    podIP: pod.ip,
    podIPs: ips,
    startTime: pod.createdAt,
    conditions: [
      cond('PodReadyToStartContainers', true),
      cond('Initialized', true),
      cond('Ready', allRunning),
      cond('ContainersReady', allRunning),
      cond('PodScheduled', true),
    ],
    containerStatuses: pod.specs.map((s, i) => {
      const c = started[i];
      const prev = [...pod.terminated].reverse().find((t) => t.name === s.name);
      return {
        name: s.name,
        image: BASE_IMAGE,
        imageID: busyboxImageId(),
        ready: !!c,
        started: !!c,
        restartCount: c?.restartCount ?? 0,
        ...(c ? { containerID: `containerd://${c.id}` } : {}),
        state: c ? { running: { startedAt: c.startedAt } } : { waiting: { reason: 'ContainerCreating' } },
        lastState: prev
          ? {
              terminated: {
                exitCode: 137,
                reason: 'Error',
                containerID: `containerd://${prev.id}`,
                startedAt: prev.startedAt,
                finishedAt: prev.finishedAt,
              },
            }
          : {},
      };
    }),
  };
}

async function patchStatus(pod: Pod): Promise<void> {
  await kubectl([
    'patch',
    'pod',
    pod.name,
    '-n',
    pod.namespace,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: podStatus(pod) }),
  ]);
}

// ---------------------------------------------------------------------------------- containers

function killQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** runc run --detach with the container's stdio going to its log file (no pipes to hold us). */
async function runcRunDetached(bundle: string, id: string, logFile: string): Promise<void> {
  const fd = fs.openSync(logFile, 'a');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const p = spawn('runc', ['--root', runcRoot(), 'run', '--detach', '--bundle', bundle, id], {
        stdio: ['ignore', fd, fd],
      });
      p.on('error', reject);
      p.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
    if (code !== 0) {
      const tail = fs.readFileSync(logFile, 'utf8').slice(-2000);
      throw new Error(`runc run ${id} failed (exit ${code}):\n${tail}`);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Checks the container's init is in the expected cgroup v2 directory (what the agent keys on). */
function verifyCgroup(pid: number, cgroupPath: string): void {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2?.slice(3) !== cgroupPath) {
    throw new Error(`container pid ${pid} is in cgroup v2 "${v2?.slice(3)}", expected "${cgroupPath}"`);
  }
  const procs = fs.readFileSync(path.join(unifiedRoot(), cgroupPath, 'cgroup.procs'), 'utf8');
  if (!procs.split('\n').includes(String(pid)))
    throw new Error(`pid ${pid} not in ${cgroupPath}/cgroup.procs`);
}

async function launch(pod: Pod, spec: ContainerSpec, restartCount: number): Promise<PodContainer> {
  const id = randomBytes(32).toString('hex');
  const dir = path.join(podDir(pod.namespace, pod.name), 'containers', id);
  fs.mkdirSync(dir, { recursive: true });
  const rootfs = await containerRootfs(dir);
  const cgroupPath = containerCgroupPath(pod.uid, pod.qos, id);
  const config = await ociConfig(pod, spec, rootfs, cgroupPath);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const logFile = path.join(podDir(pod.namespace, pod.name), `${spec.name}-${restartCount}.log`);
  await runcRunDetached(dir, id, logFile);
  const state = JSON.parse(await runc(['state', id])) as { pid: number; status: string };
  const c: PodContainer = {
    name: spec.name,
    id,
    pid: state.pid,
    cgroupPath,
    restartCount,
    startedAt: now(),
    logFile,
  };
  pod.containers.push(c);
  savePod(pod);
  // A process that already exited has no /proc entry; only a live one can be checked.
  if (state.status === 'running' && fs.existsSync(`/proc/${state.pid}`)) verifyCgroup(state.pid, cgroupPath);
  return c;
}

/**
 * Dead: no /proc entry, or a zombie. Detached containers are reparented to pid 1, which reaps them in
 * its own time (containerd's shim would do it at once); a zombie runs no code and holds no cgroup.
 */
export function processGone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function destroyContainer(pod: Pod, c: PodContainer): Promise<void> {
  await runRaw('runc', ['--root', runcRoot(), 'kill', c.id, 'KILL']);
  for (let i = 0; i < 100 && !processGone(c.pid); i++) await sleep(50);
  await runRaw('runc', ['--root', runcRoot(), 'delete', '--force', c.id]);
  if (!processGone(c.pid)) throw new Error(`container ${c.id} (pid ${c.pid}) survived SIGKILL`);
  await unmountUnder(path.join(podDir(pod.namespace, pod.name), 'containers', c.id));
  fs.rmSync(path.join(podDir(pod.namespace, pod.name), 'containers', c.id), { recursive: true, force: true });
  await removeCgroup(c.cgroupPath);
}

/** rmdir a cgroup (deepest first) in the v2 and every v1 hierarchy, killing stragglers. */
async function removeCgroup(rel: string): Promise<void> {
  for (const root of [unifiedRoot(), ...v1Roots()]) {
    const top = path.join(root, rel);
    if (!fs.existsSync(top)) continue;
    for (let attempt = 0; attempt < 40 && fs.existsSync(top); attempt++) {
      for (const d of walkDirs(top).reverse()) {
        try {
          for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
            killQuietly(Number(p), 'SIGKILL');
          }
          fs.rmdirSync(d);
        } catch {
          // Busy (processes still exiting) or gone: retried below.
        }
      }
      if (fs.existsSync(top)) await sleep(50);
    }
    if (fs.existsSync(top)) throw new Error(`could not remove cgroup ${top}`);
  }
}

function walkDirs(top: string): string[] {
  const out = [top];
  for (let i = 0; i < out.length; i++) {
    for (const e of fs.readdirSync(out[i], { withFileTypes: true })) {
      if (e.isDirectory()) out.push(path.join(out[i], e.name));
    }
  }
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------- public API

export async function runPod(opts: PodOptions): Promise<Pod> {
  const qos = opts.qos ?? 'besteffort';
  const labels = opts.labels ?? {};
  const dir = podDir(opts.namespace, opts.name);
  if (fs.existsSync(path.join(dir, 'pod.json'))) {
    throw new Error(`pod ${opts.namespace}/${opts.name} already exists in the testenv; deletePod it first`);
  }
  await ensureNamespace(opts.namespace);
  const manifest = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: opts.name, namespace: opts.namespace, labels },
    spec: {
      nodeName: NODE_NAME,
      hostNetwork: opts.hostNetwork ?? false,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      containers: opts.containers.map((c) => ({
        name: c.name,
        image: 'busybox',
        command: c.args,
        resources: resources(qos),
        env: Object.entries(c.env ?? {}).map(([name, value]) => ({ name, value })),
      })),
    },
  };
  const created = await kubectlJson<{ metadata: { uid: string; creationTimestamp: string } }>(
    ['create', '-f', '-'],
    {
      input: JSON.stringify(manifest),
    },
  );
  fs.mkdirSync(dir, { recursive: true });
  const pod: Pod = {
    namespace: opts.namespace,
    name: opts.name,
    uid: created.metadata.uid,
    labels,
    qos,
    hostNetwork: opts.hostNetwork ?? false,
    ip: NODE_IP,
    specs: opts.containers,
    containers: [],
    terminated: [],
    createdAt: created.metadata.creationTimestamp,
  };
  savePod(pod);
  try {
    if (pod.hostNetwork) pod.ip6 = bridgeHasIpv6() ? NODE_IP6 : undefined;
    else await createSandbox(pod);
    writePodFiles(pod);
    // kubelet creates the pod-level cgroup before any container.
    fs.mkdirSync(path.join(unifiedRoot(), podSlice(pod.uid, qos)), { recursive: true });
    savePod(pod);
    if (opts.start !== false) {
      for (const spec of pod.specs) await launch(pod, spec, 0);
    }
    await patchStatus(pod);
  } catch (e) {
    await deletePod(pod).catch(() => undefined);
    throw e;
  }
  return pod;
}

/** Starts one container of a pod created with `start: false` (or one that is not running). */
export async function startContainer(pod: Pod, name: string): Promise<PodContainer> {
  const spec = pod.specs.find((s) => s.name === name);
  if (!spec) throw new Error(`pod ${pod.name} has no container ${name}`);
  if (pod.containers.some((c) => c.name === name)) throw new Error(`container ${name} already started`);
  const c = await launch(pod, spec, 0);
  await patchStatus(pod);
  return c;
}

/** Kills a container and starts a new instance: new id, new cgroup under the same pod slice, restartCount+1. */
export async function restartContainer(pod: Pod, name: string): Promise<PodContainer> {
  const old = pod.containers.find((c) => c.name === name);
  const spec = pod.specs.find((s) => s.name === name);
  if (!old || !spec) throw new Error(`pod ${pod.name} has no running container ${name}`);
  await destroyContainer(pod, old);
  pod.containers = pod.containers.filter((c) => c !== old);
  pod.terminated.push({ name, id: old.id, startedAt: old.startedAt, finishedAt: now() });
  const c = await launch(pod, spec, old.restartCount + 1);
  await patchStatus(pod);
  return c;
}

/** runc exec in a running container; never throws on the command's exit code. */
export async function execInPod(
  pod: Pod,
  container: string,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const c = pod.containers.find((x) => x.name === container);
  if (!c) throw new Error(`pod ${pod.name} has no running container ${container}`);
  return runRaw('runc', ['--root', runcRoot(), 'exec', c.id, ...args], opts);
}

/** The container's stdout+stderr so far. */
export function containerLogs(pod: Pod, container: string): string {
  const c = pod.containers.find((x) => x.name === container);
  return c && fs.existsSync(c.logFile) ? fs.readFileSync(c.logFile, 'utf8') : '';
}

/** runc's view of a container: 'running', 'stopped', ... */
export async function containerState(pod: Pod, container: string): Promise<string> {
  const c = pod.containers.find((x) => x.name === container);
  if (!c) return 'absent';
  const r = await runRaw('runc', ['--root', runcRoot(), 'state', c.id]);
  return r.code === 0 ? (JSON.parse(r.stdout) as { status: string }).status : 'absent';
}

/** Kills the pod's containers and removes its cgroups, netns, veth, IP and Pod object. */
export async function deletePod(pod: Pod): Promise<void> {
  const dir = podDir(pod.namespace, pod.name);
  // Reload: another helper call may have restarted containers since this handle was returned.
  const f = path.join(dir, 'pod.json');
  const current = fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Pod) : pod;
  for (const c of current.containers) await destroyContainer(current, c);
  if (current.uid) await removeCgroup(podSlice(current.uid, current.qos));
  await removeNetns(current.netns, current.veth);
  if (!current.hostNetwork) releaseIp(current.ip);
  await unmountUnder(dir);
  await kubectl([
    'delete',
    'pod',
    current.name,
    '-n',
    current.namespace,
    '--grace-period=0',
    '--force',
    '--ignore-not-found',
  ]).catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
  pod.containers = [];
}

/** Removes every pod this helper ever started (also from crashed runs) and any stray runc container. */
export async function cleanupAll(): Promise<void> {
  const errors: unknown[] = [];
  for (const pod of loadPods()) await deletePod(pod).catch((e) => errors.push(e));
  const list = await runRaw('runc', ['--root', runcRoot(), 'list', '-q']);
  for (const id of list.stdout.split('\n').filter(Boolean)) {
    await runRaw('runc', ['--root', runcRoot(), 'kill', id, 'KILL']);
    await runRaw('runc', ['--root', runcRoot(), 'delete', '--force', id]);
  }
  if (errors.length) throw new Error(`cleanupAll: ${errors.map(String).join('\n')}`);
}

/** Names of what the helpers leave on the host, for leak assertions. */
export async function leftovers(): Promise<{ containers: string[]; netns: string[]; veths: string[] }> {
  const list = await runRaw('runc', ['--root', runcRoot(), 'list', '-q']);
  const netns = fs.existsSync('/var/run/netns')
    ? fs.readdirSync('/var/run/netns').filter((n) => n.startsWith('harden-'))
    : [];
  const veths = fs
    .readdirSync('/sys/class/net')
    .filter((n) => /^hv[0-9a-f]{10}$/.test(n) || /^cali[0-9a-f]{11}$/.test(n));
  return { containers: list.stdout.split('\n').filter(Boolean), netns, veths };
}
