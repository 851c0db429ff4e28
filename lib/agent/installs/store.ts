/**
 * The installed profiles on this node's disk: files under `<seccomp root>/harden/<ns>/<name>.json`,
 * written atomically (a temporary in the same directory, fsync, rename), and a manifest of what
 * this agent wrote, so that it removes only its own files and never overwrites one it did not
 * write (another tool's, or an operator's, under the same name). Only this module touches them.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { INSTALL_PREFIX, localhostProfile } from '../../seccomp/install';

const MANIFEST = '.kubectl-harden-manifest.json';

interface Manifest {
  /** localhostProfile path → digest written. */
  files: Record<string, string>;
}

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Only paths this module builds itself: harden/<label>/<label>.json. */
function checkRel(rel: string): void {
  const [prefix, ns, file, ...rest] = rel.split('/');
  if (prefix !== INSTALL_PREFIX || rest.length || !ns || !file?.endsWith('.json'))
    throw new Error(`refusing path ${JSON.stringify(rel)}`);
  if (localhostProfile(ns, file.slice(0, -'.json'.length)) !== rel)
    throw new Error(`refusing path ${JSON.stringify(rel)}`);
}

export class ProfileStore {
  private manifest: Manifest = { files: {} };

  constructor(readonly root: string) {}

  private abs(rel: string): string {
    checkRel(rel);
    return join(this.root, rel);
  }

  /**
   * At agent start: the seccomp root must be a directory this agent can write, and its `harden/`
   * a real directory (a symlink there could aim the writes anywhere on the host). Loads the
   * manifest of an earlier run.
   */
  open(): void {
    const st = lstatSync(this.root);
    if (!st.isDirectory()) throw new Error(`${this.root} is not a directory`);
    const dir = join(this.root, INSTALL_PREFIX);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (!lstatSync(dir).isDirectory()) throw new Error(`${dir} is not a directory (a symlink?)`);
    try {
      const m = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Partial<Manifest>;
      this.manifest = { files: { ...(m.files ?? {}) } };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    this.saveManifest(); // proves the directory writable now rather than at the first install
  }

  /** The files this agent wrote (localhostProfile paths). */
  written(): string[] {
    return Object.keys(this.manifest.files).sort();
  }

  /** The digest of the file as it is on disk now, or undefined when there is none. */
  held(rel: string): string | undefined {
    try {
      return sha256(readFileSync(this.abs(rel)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Writes the profile unless the file already holds it; refuses to replace a file it did not write. */
  write(rel: string, text: string): string {
    const path = this.abs(rel);
    const digest = sha256(text);
    const current = this.held(rel);
    if (current === digest && this.manifest.files[rel]) return digest;
    if (current !== undefined && !this.manifest.files[rel])
      throw new Error(`${path} exists and kubectl-harden did not write it; it is left alone`);
    const dir = dirname(path);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    if (!lstatSync(dir).isDirectory()) throw new Error(`${dir} is not a directory (a symlink?)`);
    // Recorded before the rename: a crash in between leaves a manifest entry without a file
    // (harmless), never a file of ours that the manifest forgot.
    this.manifest.files[rel] = digest;
    this.saveManifest();
    this.atomicWrite(path, text, 0o644);
    return digest;
  }

  /** Removes a file this agent wrote (and its namespace directory once empty); others are left alone. */
  remove(rel: string): void {
    if (!this.manifest.files[rel]) return;
    const path = this.abs(rel);
    rmSync(path, { force: true });
    try {
      rmdirSync(dirname(path));
    } catch {
      // not empty, or already gone: either way not ours to force
    }
    delete this.manifest.files[rel];
    this.saveManifest();
  }

  private saveManifest(): void {
    this.atomicWrite(
      join(this.root, INSTALL_PREFIX, MANIFEST),
      `${JSON.stringify(this.manifest, null, 2)}\n`,
      0o600,
    );
  }

  private atomicWrite(path: string, text: string, mode: number): void {
    const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, path);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw e;
    }
  }
}

/**
 * The seccomp root this node's kubelet reads, checked at start: kubelet's root must hold its
 * `pods/` (seen through the host's root, /proc/1/root, as the agent runs in the host's PID
 * namespace), else profiles written there would never be read; and the mount must be writable.
 */
export function openProfileStore(
  kubeletRoot: string,
  mount: string,
  hostRoot = '/proc/1/root',
): {
  store?: ProfileStore;
  problem?: string;
} {
  const redeploy = "redeploy with: kubectl harden deploy --kubelet-root DIR (kubelet's --root-dir)";
  if (existsSync(`${hostRoot}/`) && !existsSync(`${hostRoot}${kubeletRoot}/pods`))
    return { problem: `${kubeletRoot} is not kubelet's root on this node (it has no pods/); ${redeploy}` };
  const store = new ProfileStore(mount);
  try {
    store.open();
    return { store };
  } catch (e) {
    return { problem: `cannot use ${kubeletRoot}/seccomp: ${(e as Error).message}` };
  }
}
