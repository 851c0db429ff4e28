/**
 * Installed seccomp profiles (SeccompProfileInstall, harden.dev): the object the plugin writes and
 * every node's agent turns into a file under kubelet's seccomp root, and the checks both sides run
 * on it. The agent writes host files from cluster objects, so it runs these checks again itself:
 * the plugin's are for a clear message, the agent's are the ones that protect the node. Pure.
 */
import { createHash } from 'node:crypto';
import { ARCHITECTURES, ENOSYS } from './profile';
import { isNodeArch } from './names';

export const INSTALL_KIND = 'SeccompProfileInstall';
export const INSTALL_PLURAL = 'seccompprofileinstalls';

/** Profiles kubelet reads are a few KiB; this bounds what one object can make an agent write. */
export const MAX_PROFILE_BYTES = 256 * 1024;
/** A DNS-1123 label: what a namespace name is, and all a file name under it needs. */
export const MAX_NAME_LENGTH = 63;
/** Every installed file lives under this directory of kubelet's seccomp root. */
export const INSTALL_PREFIX = 'harden';

export type InstallMode = 'Enforce' | 'Audit';
export type NodeInstallState = 'Installed' | 'Failed';

export interface NodeInstall {
  node: string;
  arch?: string;
  state: NodeInstallState;
  /** The digest of the file this node holds (Installed). */
  digest?: string;
  message?: string;
  /** The object's metadata.generation this entry is about: older entries say nothing of the spec now. */
  observedGeneration?: number;
  lastUpdate?: string;
}

export interface SeccompProfileInstall {
  apiVersion: string;
  kind: typeof INSTALL_KIND;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    uid?: string;
    generation?: number;
    creationTimestamp?: string;
    annotations?: Record<string, string>;
  };
  spec: {
    /** The profile's JSON text, written byte for byte. */
    profile: string;
    /** sha256:<hex> of `profile`. */
    digest: string;
    mode: InstallMode;
  };
  status?: { nodes?: NodeInstall[] };
}

export class InstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstallError';
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * A profile or namespace name that can be one path segment: a DNS-1123 label (so no `/`, no `..`,
 * no leading dot), at most 63 characters. `what` names it in the error.
 */
export function checkName(name: string, what = 'profile name'): string {
  if (typeof name !== 'string' || name === '') throw new InstallError(`${what} is empty`);
  if (name.length > MAX_NAME_LENGTH)
    throw new InstallError(
      `${what} ${JSON.stringify(name.slice(0, 80))}… is ${name.length} characters long (at most ${MAX_NAME_LENGTH})`,
    );
  if (!DNS1123_LABEL.test(name))
    throw new InstallError(
      `${what} ${JSON.stringify(name)} is not a DNS-1123 label (lower-case letters, digits and '-', no '/' or '.')`,
    );
  return name;
}

/**
 * The install name of a workload's profile (`stem`: `deployment-nginx`), or of one container's when
 * the workload has several: a name checkName accepts. The stem itself when it is a label; otherwise
 * (a container's, or a stem with dots or over 63 characters) a label made of it and a digest of the
 * stem and container, so that no two workloads or containers share one (`deployment-redis` and
 * `init` is `deployment-redis-init-<8 hex>`, never a Deployment named redis-init's).
 */
export function profileName(stem: string, container?: string): string {
  if (container === undefined && stem.length <= MAX_NAME_LENGTH && DNS1123_LABEL.test(stem)) return stem;
  const digest = createHash('sha256')
    .update(`${stem}/${container ?? ''}`)
    .digest('hex')
    .slice(0, 8);
  const slug = `${stem}${container === undefined ? '' : `-${container}`}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, MAX_NAME_LENGTH - digest.length - 1)
    .replace(/^-+|-+$/g, '');
  return `${slug || 'profile'}-${digest}`;
}

/** Where kubelet finds the profile, relative to its seccomp root: the pod spec's localhostProfile. */
export function localhostProfile(namespace: string, name: string): string {
  return `${INSTALL_PREFIX}/${checkName(namespace, 'namespace')}/${checkName(name)}.json`;
}

export function digestOf(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

// What runc (libseccomp-golang) and containerd accept in a profile, as the OCI runtime spec's
// LinuxSeccomp and the Docker profile format name them.
const ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
];
/** Actions under which a syscall runs; every other one stops it (an errno, a signal, a kill, a tracer or a notifier). */
const RUNNING = new Set(['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG']);
export const letsRun = (action: unknown): boolean => RUNNING.has(String(action));

const ARCHES = [
  'SCMP_ARCH_X86',
  'SCMP_ARCH_X86_64',
  'SCMP_ARCH_X32',
  'SCMP_ARCH_ARM',
  'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64',
  'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL',
  'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC',
  'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE',
  'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X',
  'SCMP_ARCH_RISCV64',
];
const TOP_LEVEL = [
  'defaultAction',
  'defaultErrnoRet',
  'architectures',
  'archMap',
  'syscalls',
  'flags',
  'listenerPath',
  'listenerMetadata',
];
const RULE_FIELDS = ['names', 'name', 'action', 'args', 'errnoRet', 'comment', 'includes', 'excludes'];
// The filter flags runc knows (libcontainer/seccomp/config.go); it refuses any other.
const FLAGS = [
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
];
const COMPARISONS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
];
const SYSCALL_NAME = /^[a-z0-9_]{1,64}$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownFields(obj: Json, known: string[], where: string): void {
  const extra = Object.keys(obj).filter((k) => !known.includes(k));
  if (extra.length)
    throw new InstallError(
      `${where}${extra.map((k) => JSON.stringify(k)).join(', ')}: not a field of a seccomp profile (known: ${known.join(', ')})`,
    );
}

/** A field the OCI spec types as unsigned (errno returns, argument values): runtimes refuse anything else. */
function checkUnsigned(v: unknown, field: string): void {
  if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0))
    throw new InstallError(`${field} is ${JSON.stringify(v)}: not a non-negative integer`);
}

function checkList(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new InstallError(`${field} is not a list`);
  return v;
}

function checkArgs(args: unknown, where: string): void {
  if (args === undefined) return;
  checkList(args, `${where}.args`).forEach((a: unknown, k) => {
    const at = `${where}.args[${k}]`;
    if (!isObject(a)) throw new InstallError(`${at} is not an object`);
    if (!(Number.isInteger(a.index) && (a.index as number) >= 0 && (a.index as number) <= 5))
      throw new InstallError(`${at}.index is ${JSON.stringify(a.index)}: not an argument index (0-5)`);
    if (typeof a.op !== 'string' || !COMPARISONS.includes(a.op))
      throw new InstallError(
        `${at}.op is ${JSON.stringify(a.op)}: not a comparison (${COMPARISONS.join(', ')})`,
      );
    checkUnsigned(a.value ?? 0, `${at}.value`);
    checkUnsigned(a.valueTwo, `${at}.valueTwo`);
  });
}

function checkAction(v: unknown, field: string): void {
  if (typeof v !== 'string' || !ACTIONS.includes(v))
    throw new InstallError(`${field} is ${JSON.stringify(v)}: not a seccomp action (${ACTIONS.join(', ')})`);
}

/**
 * Parses and checks a seccomp profile as kubelet's Localhost profiles hold it; each error names the
 * field that is wrong. `arch` (GOARCH, the node's) is checked when given: a profile whose
 * architectures lack the node's native one would make runc refuse every container it is applied to.
 */
export function parseProfile(text: string, arch?: string): Json {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_PROFILE_BYTES)
    throw new InstallError(
      `the profile is ${bytes} bytes; at most ${MAX_PROFILE_BYTES} are accepted (kubelet's profiles are a few KiB)`,
    );
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (e) {
    throw new InstallError(`not JSON: ${(e as Error).message}`);
  }
  if (!isObject(p)) throw new InstallError('not a seccomp profile: the JSON is not an object');
  unknownFields(p, TOP_LEVEL, 'field ');
  if (!('defaultAction' in p)) throw new InstallError('defaultAction is missing: not a seccomp profile');
  checkAction(p.defaultAction, 'defaultAction');
  checkUnsigned(p.defaultErrnoRet, 'defaultErrnoRet');
  if (p.flags !== undefined)
    checkList(p.flags, 'flags').forEach((f, i) => {
      if (typeof f !== 'string' || !FLAGS.includes(f))
        throw new InstallError(
          `flags[${i}] is ${JSON.stringify(f)}: not a seccomp filter flag (${FLAGS.join(', ')})`,
        );
    });
  if (p.architectures !== undefined) {
    if (!Array.isArray(p.architectures)) throw new InstallError('architectures is not a list');
    p.architectures.forEach((a, i) => {
      if (typeof a !== 'string' || !ARCHES.includes(a))
        throw new InstallError(`architectures[${i}] is ${JSON.stringify(a)}: not a seccomp architecture`);
    });
  }
  if (p.syscalls !== undefined) {
    if (!Array.isArray(p.syscalls)) throw new InstallError('syscalls is not a list');
    p.syscalls.forEach((r: unknown, i) => {
      const where = `syscalls[${i}]`;
      if (!isObject(r)) throw new InstallError(`${where} is not an object`);
      unknownFields(r, RULE_FIELDS, `${where}: field `);
      checkAction(r.action, `${where}.action`);
      checkUnsigned(r.errnoRet, `${where}.errnoRet`);
      checkArgs(r.args, where);
      const names = r.names ?? (r.name === undefined ? undefined : [r.name]);
      if (!Array.isArray(names) || !names.length)
        throw new InstallError(`${where}.names is missing or empty`);
      names.forEach((n: unknown, j) => {
        if (typeof n !== 'string' || !SYSCALL_NAME.test(n))
          throw new InstallError(`${where}.names[${j}] is ${JSON.stringify(n)}: not a syscall name`);
      });
    });
  }
  if (arch !== undefined) checkArch(p, arch);
  return p;
}

/** Runc loads a filter only for architectures it names; the node's native one must be among them. */
export function checkArch(p: Json, arch: string): void {
  const listed = (p.architectures as string[] | undefined) ?? [];
  if (!listed.length) return; // none named: runc uses the native one
  if (!isNodeArch(arch)) throw new InstallError(`the node's architecture ${arch} has no seccomp table here`);
  const native = ARCHITECTURES[arch][0];
  if (!listed.includes(native))
    throw new InstallError(
      `architectures (${listed.join(', ')}) lacks ${native}, the native architecture of this ${arch} node`,
    );
}

/**
 * The text installed for a profile: canonical JSON (2-space indent, final newline), and for
 * `Audit` the variant that logs wherever the profile would stop a syscall (its default action and
 * each rule that denies, as a deny list's rules do), so the workload runs as before.
 */
export function installText(profile: Json, mode: InstallMode): string {
  return `${JSON.stringify(mode === 'Audit' ? auditVariant(profile) : profile, null, 2)}\n`;
}

function auditVariant(profile: Json): Json {
  const out: Json = { ...profile, defaultAction: 'SCMP_ACT_LOG' };
  delete out.defaultErrnoRet;
  if (Array.isArray(profile.syscalls))
    out.syscalls = profile.syscalls.map((rule: unknown) => {
      const r = rule as Json;
      // ENOSYS asks the caller to fall back (glibc's clone3 to clone), as the runtime default
      // does: audited, the workload then runs as it will enforced, not on a call it never makes.
      if (letsRun(r.action) || asksFallback(r)) return r;
      const logged: Json = { ...r, action: 'SCMP_ACT_LOG' };
      delete logged.errnoRet;
      return logged;
    });
  return out;
}

const asksFallback = (r: Json) => r.action === 'SCMP_ACT_ERRNO' && r.errnoRet === ENOSYS;

/**
 * What the agent checks of an object before it writes a byte: names, size, profile, digest, arch.
 * Returns the file's path relative to the seccomp root.
 */
export function checkInstall(obj: SeccompProfileInstall, arch: string): string {
  const path = localhostProfile(obj.metadata.namespace, obj.metadata.name);
  const text = obj.spec?.profile;
  if (typeof text !== 'string') throw new InstallError('spec.profile is missing');
  parseProfile(text, arch);
  const digest = digestOf(text);
  if (obj.spec.digest !== digest)
    throw new InstallError(`spec.digest ${obj.spec.digest} is not the profile's (${digest})`);
  return path;
}
