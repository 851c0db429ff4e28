/**
 * Installed seccomp profiles, reconciled from a watch: every SeccompProfileInstall of the cluster
 * becomes a file on this node (lib/agent/installs/store.ts), each file whose object is gone is
 * removed, and this node's entry of each object's status says whether it holds the profile and
 * its digest. Nodes that join later list the objects and catch up. Independent of the session
 * controller: writing a file needs no eBPF, so it works on every kernel.
 */
import { ApiError, type Kube } from '../../kube/client';
import { inform } from '../../kube/informer';
import { R, resourcePath } from '../../kube/paths';
import {
  checkInstall,
  checkName,
  INSTALL_KIND,
  localhostProfile,
  type NodeInstall,
  type SeccompProfileInstall,
} from '../../seccomp/install';
import { GROUP, CRD_VERSION } from '../../session/types';
import { StatusMemo } from '../core/status-memo';
import type { ProfileStore } from './store';

export interface InstallControllerOptions {
  node: string;
  arch: string;
  /** Undefined when the seccomp root cannot be used; then every object is told why. */
  store?: ProfileStore;
  /** Why this node cannot install (kubelet root wrong, not writable, …). */
  problem?: string;
  log(msg: string): void;
  /** A full pass this often even without events, so a file removed by hand comes back. */
  resyncMs?: number;
}

const key = (o: SeccompProfileInstall) => `${o.metadata.namespace}/${o.metadata.name}`;

export class InstallController {
  private readonly objects = new Map<string, SeccompProfileInstall>();
  private readonly memos = new Map<string, { uid?: string; memo: StatusMemo }>();
  private readonly abort = new AbortController();
  private running: Promise<void> = Promise.resolve();
  private queued = false;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly kube: Kube,
    private readonly opts: InstallControllerOptions,
  ) {}

  async start(): Promise<void> {
    await inform<SeccompProfileInstall>(
      this.kube,
      resourcePath(R.seccompprofileinstalls),
      undefined,
      (type, o) => {
        if (type === 'DELETED') this.objects.delete(key(o));
        else this.objects.set(key(o), o);
        this.schedule();
      },
      this.abort.signal,
      (e) => this.opts.log(`seccomp profile install watch: ${e.message}`),
    );
    await this.schedule();
    this.timer = setInterval(() => void this.schedule(), this.opts.resyncMs ?? 60_000);
  }

  async close(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass at a time; events during a pass make one more pass after it. */
  schedule(): Promise<void> {
    if (this.queued) return this.running;
    this.queued = true;
    this.running = this.running.then(async () => {
      this.queued = false;
      try {
        await this.reconcile();
      } catch (e) {
        this.opts.log(`seccomp profile installs: ${(e as Error).message}`);
      }
    });
    return this.running;
  }

  private async reconcile(): Promise<void> {
    const { store } = this.opts;
    const keep = new Set<string>();
    for (const o of this.objects.values()) {
      const entry = this.install(o);
      // A name that passes keeps its file even while the object is refused (e.g. a bad update):
      // only a deleted object's file goes, since a pod may still be started from it.
      try {
        keep.add(localhostProfile(o.metadata.namespace, o.metadata.name));
      } catch {
        // not a name this agent writes at all
      }
      await this.report(o, entry);
    }
    if (!store) return;
    for (const rel of store.written()) {
      if (keep.has(rel)) continue;
      try {
        store.remove(rel);
        this.opts.log(`removed ${rel}: its SeccompProfileInstall is gone`);
      } catch (e) {
        this.opts.log(`cannot remove ${rel}: ${(e as Error).message}`);
      }
    }
    for (const k of this.memos.keys()) if (!this.objects.has(k)) this.memos.delete(k);
  }

  /** Writes one object's file, or says why not: this node's status entry, unstamped. */
  private install(o: SeccompProfileInstall): Omit<NodeInstall, 'lastUpdate'> {
    const { node, arch, store, problem } = this.opts;
    const observedGeneration = o.metadata.generation;
    const failed = (message: string) => ({
      node,
      arch,
      observedGeneration,
      state: 'Failed' as const,
      message,
    });
    if (!store) return failed(problem ?? 'no seccomp root on this node');
    let rel: string;
    try {
      checkName(o.metadata.namespace, 'namespace');
      rel = checkInstall(o, arch);
    } catch (e) {
      return failed(`refused: ${(e as Error).message}`);
    }
    try {
      const before = store.held(rel);
      const digest = store.write(rel, o.spec.profile);
      if (before !== digest) this.opts.log(`installed ${rel} (${digest})`);
      return { node, arch, observedGeneration, state: 'Installed', digest };
    } catch (e) {
      return failed(`cannot write ${rel}: ${(e as Error).message}`);
    }
  }

  private async report(o: SeccompProfileInstall, entry: Omit<NodeInstall, 'lastUpdate'>): Promise<void> {
    const k = key(o);
    const held = this.memos.get(k);
    const memo = held && held.uid === o.metadata.uid ? held.memo : new StatusMemo();
    const current = o.status?.nodes?.find((n) => n.node === this.opts.node);
    // What the object already says (after an agent restart) needs no write either.
    const same =
      current &&
      current.state === entry.state &&
      current.digest === entry.digest &&
      current.message === entry.message &&
      current.observedGeneration === entry.observedGeneration &&
      current.arch === entry.arch;
    if (memo.unchanged(entry) || same) {
      memo.wrote(entry);
      this.memos.set(k, { uid: o.metadata.uid, memo });
      return;
    }
    const { name, namespace } = o.metadata;
    try {
      await this.kube.apply(
        resourcePath(R.seccompprofileinstalls, { namespace, name, subresource: 'status' }),
        {
          apiVersion: `${GROUP}/${CRD_VERSION}`,
          kind: INSTALL_KIND,
          metadata: { name, namespace },
          status: { nodes: [{ ...entry, lastUpdate: new Date().toISOString() }] },
        },
        { fieldManager: `harden-agent/${this.opts.node}` },
      );
      memo.wrote(entry);
      this.memos.set(k, { uid: o.metadata.uid, memo });
    } catch (e) {
      if (e instanceof ApiError && e.statusCode === 404) return; // deleted meanwhile
      this.opts.log(`cannot report ${k}: ${(e as Error).message}`);
    }
  }
}
