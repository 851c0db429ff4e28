// Calico's felix as the testenv's NetworkPolicy implementation: a host process in Kubernetes-datastore
// (KDD) mode that turns NetworkPolicies into iptables + ipset rules on the pods' host-side veths.
//
// Felix's model is Calico's routed one, not a bridge, and it is the layout runPod() gives every pod: each
// pod's host-side veth is a point-to-point L3 interface named felixVethName(ns, pod), the pod routes
// everything to a link-local gateway the host answers by proxy ARP, and felix matches rules on
// `-i/-o <prefix>+`.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { NODE_IP, NODE_IP6, NODE_NAME, REPO_ROOT } from './cluster';
import { testenvEnv } from './env';
import { kubectl, run, runRaw } from './exec';
import { FELIX_IFACE_PREFIX } from './pods';

const HEALTH_PORT = 9099;
const MTU_FILE = '/var/lib/calico/mtu';
const POOL4 = '10.244.0.0/24';
const POOL6 = 'fd00:10:244::/64';
const TABLES = ['raw', 'mangle', 'nat', 'filter'];
// Felix's lines in iptables-save output: its chains, their rules, jumps into them, and the rules it
// inserts into the built-in chains (all tagged with a "cali:<hash>" comment).
const FELIX_RULE = /^:cali-|^-A cali-|-[jg] cali-|--comment "?cali:/;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ----------------------------------------------------------------------------------------- build

/** scripts/testenv/build-felix: builds once (minutes), then only prints the cached binary's path. */
async function felixBinary(): Promise<{ bin: string; crds: string }> {
  const { processEnv } = testenvEnv();
  const out = await run(path.join(REPO_ROOT, 'scripts', 'testenv', 'build-felix'), [], {
    env: processEnv,
    timeoutMs: 30 * 60_000,
  });
  const bin = out.trim().split('\n').pop() ?? '';
  const crds = bin.replace(/\/bin\/calico-felix-([^/]+)$/, '/calico-crds-$1');
  if (!fs.existsSync(bin) || !fs.existsSync(crds)) throw new Error(`build-felix printed "${bin}"`);
  return { bin, crds };
}

// ------------------------------------------------------------------------------------ datastore

/** The Calico CRDs plus the objects a KDD felix waits for before it reports ready. */
async function prepareDatastore(crds: string): Promise<void> {
  // Server-side: the FelixConfiguration CRD is too big for client-side apply's annotation.
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', crds]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', '-f', crds]);
  const objects = [
    {
      // Felix refuses to start until the datastore is marked ready (calico-node's startup does this).
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'ClusterInformation',
      metadata: { name: 'default' },
      spec: { datastoreReady: true, clusterType: 'k8s,kdd', clusterGUID: 'harden-testenv' },
    },
    {
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'FelixConfiguration',
      metadata: { name: 'default' },
      spec: { logSeverityScreen: 'Info', reportingInterval: '0s' },
    },
    // The pod network as Calico pools, unencapsulated and un-NATed: felix then treats it as in-cluster.
    ...[
      ['harden-pool-v4', POOL4],
      ['harden-pool-v6', POOL6],
    ].map(([name, cidr]) => ({
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'IPPool',
      metadata: { name },
      spec: { cidr, ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, nodeSelector: 'all()' },
    })),
  ];
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], {
    input: objects.map((o) => JSON.stringify(o)).join('\n'),
  });
}

// ------------------------------------------------------------------------------------- dataplane

/** Which iptables felix should drive: the one `iptables` is (Debian 12: nf_tables). */
async function iptablesBackend(): Promise<'nft' | 'legacy'> {
  const v = await run('iptables', ['-V']);
  return v.includes('nf_tables') ? 'nft' : 'legacy';
}

/**
 * Removes what felix leaves in the kernel: it keeps its rules on exit by design (workloads stay protected
 * across restarts). Every table is rewritten from its own iptables-save without cali-* chains and the jumps
 * into them; then the cali4x/cali6x ipsets are destroyed. Safe to call when felix never ran.
 */
export async function cleanupFelixDataplane(backend?: 'nft' | 'legacy'): Promise<void> {
  const b = backend ?? (await iptablesBackend());
  for (const family of ['iptables', 'ip6tables']) {
    for (const table of TABLES) {
      const saved = await runRaw(`${family}-${b}-save`, ['-t', table]);
      if (saved.code !== 0 || !saved.stdout.split('\n').some((l) => FELIX_RULE.test(l))) continue;
      const kept = saved.stdout
        .split('\n')
        .filter((l) => !FELIX_RULE.test(l))
        .join('\n');
      await run(`${family}-${b}-restore`, ['-w', '5'], { input: kept });
    }
  }
  const sets = await runRaw('ipset', ['list', '-n']);
  for (const s of sets.stdout.split('\n').filter((n) => /^cali[46]/.test(n))) {
    await runRaw('ipset', ['destroy', s]);
  }
}

/** What felix left in the kernel (iptables-save lines, ipsets), for leak assertions. */
export async function felixLeftovers(): Promise<{ rules: string[]; ipsets: string[] }> {
  const b = await iptablesBackend();
  const rules: string[] = [];
  for (const family of ['iptables', 'ip6tables']) {
    const saved = await runRaw(`${family}-${b}-save`, []);
    rules.push(
      ...saved.stdout
        .split('\n')
        .filter((l) => FELIX_RULE.test(l))
        .map((l) => `${family}: ${l}`),
    );
  }
  const sets = await runRaw('ipset', ['list', '-n']);
  return { rules, ipsets: sets.stdout.split('\n').filter((n) => /^cali[46]/.test(n)) };
}

// --------------------------------------------------------------------------------------- process

const live = new Map<ChildProcess, string>(); // process -> its pid file
process.once('exit', () => {
  for (const [c, pidFile] of live) {
    c.kill('SIGKILL');
    fs.rmSync(pidFile, { force: true });
  }
});

function readiness(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port: HEALTH_PORT, path: '/readiness', timeout: 1000, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export class Felix {
  readonly logFile: string;
  private readonly pidFile: string;
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private backend: 'nft' | 'legacy' = 'nft';

  constructor() {
    const { state } = testenvEnv();
    this.logFile = path.join(state, 'logs', 'felix.log');
    // testenv down kills whatever pid files name, so a crashed test run leaves no felix behind.
    this.pidFile = path.join(state, 'pids', 'felix.pid');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  logs(): string {
    return fs.existsSync(this.logFile) ? fs.readFileSync(this.logFile, 'utf8') : '';
  }

  async start(timeoutMs = 120_000): Promise<this> {
    if (this.running) throw new Error('felix already running');
    if ((await readiness()) !== 0) throw new Error(`port ${HEALTH_PORT} is taken: another felix is running`);
    const { bin, crds } = await felixBinary();
    await prepareDatastore(crds);
    this.backend = await iptablesBackend();
    const { state, kubeconfig } = testenvEnv();
    fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
    // Felix creates <prefix>/endpoint-status but not the prefix itself.
    fs.mkdirSync(path.join(state, 'felix'), { recursive: true });
    const fd = fs.openSync(this.logFile, 'a');
    fs.writeSync(fd, `--- felix start ${new Date().toISOString()} ---\n`);
    const child = spawn(bin, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
        KUBECONFIG: kubeconfig,
        FELIX_DATASTORETYPE: 'kubernetes',
        FELIX_FELIXHOSTNAME: NODE_NAME,
        FELIX_IPTABLESBACKEND: this.backend,
        FELIX_INTERFACEPREFIX: FELIX_IFACE_PREFIX,
        FELIX_IPV6SUPPORT: 'true',
        // Felix owns the routes to its workloads; keep the source address runPod() gives them.
        FELIX_DEVICEROUTESOURCEADDRESS: NODE_IP,
        FELIX_DEVICEROUTESOURCEADDRESSIPV6: NODE_IP6,
        // Pods may reach their own node (DNS, probes) once their egress policy allowed it, as kubelet needs.
        FELIX_DEFAULTENDPOINTTOHOSTACTION: 'ACCEPT',
        FELIX_HEALTHENABLED: 'true',
        FELIX_HEALTHHOST: '127.0.0.1',
        FELIX_HEALTHPORT: String(HEALTH_PORT),
        FELIX_LOGSEVERITYSCREEN: 'info',
        FELIX_LOGFILEPATH: 'none', // stdout goes to our log file
        FELIX_LOGSEVERITYSYS: 'none', // no syslog daemon here
        FELIX_USAGEREPORTINGENABLED: 'false', // no internet
        FELIX_XDPENABLED: 'false',
        // The iptables dataplane's startup cleanup of eBPF connect-time load balancing calls libbpf,
        // which this cgo-free build only stubs (it panics); there is no eBPF state of ours to clean.
        FELIX_DebugSkipCTLBCleanup: 'true',
        FELIX_ENDPOINTSTATUSPATHPREFIX: path.join(state, 'felix'),
      },
      stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    this.child = child;
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        live.delete(child);
        resolve();
      }),
    );
    if (child.pid === undefined) throw new Error(`could not spawn ${bin}`);
    live.set(child, this.pidFile);
    fs.mkdirSync(path.dirname(this.pidFile), { recursive: true });
    fs.writeFileSync(this.pidFile, `${child.pid}\n`);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) {
        await this.stop(); // it may have programmed rules before dying
        throw new Error(`felix exited (${child.exitCode ?? child.signalCode}):\n${this.logs().slice(-4000)}`);
      }
      if ((await readiness()) === 200) return this;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`felix not ready after ${timeoutMs} ms:\n${this.logs().slice(-4000)}`);
      }
      await sleep(500);
    }
  }

  /** SIGTERM (SIGKILL after graceMs), then removes felix's chains, ipsets and MTU file. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (child && this.running) {
      child.kill('SIGTERM');
      // An unref'd timer: a pending grace period must not keep the test process alive.
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      killer.unref();
      await this.exited;
      clearTimeout(killer);
    }
    fs.rmSync(this.pidFile, { force: true });
    await cleanupFelixDataplane(this.backend);
    fs.rmSync(path.join(testenvEnv().state, 'felix'), { recursive: true, force: true });
    // Felix writes its detected MTU to this fixed path (for Calico CNI); nothing else here reads it.
    fs.rmSync(MTU_FILE, { force: true });
    try {
      fs.rmdirSync(path.dirname(MTU_FILE));
    } catch {
      // Not empty (not only ours) or already gone.
    }
  }
}

export function startFelix(timeoutMs?: number): Promise<Felix> {
  return new Felix().start(timeoutMs);
}
