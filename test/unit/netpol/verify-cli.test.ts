import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import type { Io } from '../../../lib/cli/context';
import { main } from '../../../lib/cli/main';
import {
  runNetpolVerify,
  type NetpolVerifyOptions,
  type VerifyDeps,
} from '../../../lib/cli/netpol-verify-run';
import { expectGolden, GOLDEN_DIR } from '../golden';
import { NETPOL_GOLDEN } from './helpers';

const CASE = path.join(GOLDEN_DIR, 'netpol-verify', 'log');
const LOG = path.join(CASE, 'replay.log.jsonl');
const POLICIES = path.join(CASE, 'replay.policies.yaml');

function fakeIo() {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = {
    out: (t) => void out.push(t),
    err: (t) => void err.push(t.endsWith('\n') ? t : `${t}\n`),
    progress: () => undefined,
    done: () => undefined,
    colour: false,
    verbosity: 0,
  };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

type Kube = Awaited<ReturnType<VerifyDeps['kube']>>;

async function verify(
  args: Partial<NetpolVerifyOptions>,
  opts: { stdin?: string; kube?: Kube; contextNamespace?: string } = {},
): Promise<{ code: number; out: string; err: string }> {
  const f = fakeIo();
  const code = await runNetpolVerify(
    { input: LOG, files: [], fromCluster: false, skipInvalid: false, output: 'table', ...args },
    {
      io: f.io,
      stdin: Readable.from([Buffer.from(opts.stdin ?? '')]),
      kube: async () => {
        if (!opts.kube) throw new Error('the test did not expect a cluster');
        return opts.kube;
      },
      contextNamespace: () => opts.contextNamespace,
    },
  );
  return { code, out: f.out(), err: f.err() };
}

/** CLI output with the test machine's paths taken out. */
const portable = (s: string) => s.split(GOLDEN_DIR).join('test/golden');

describe('kubectl harden netpol verify', () => {
  it("a Service whose pods are on the host network is judged at their nodes' addresses, which only an ipBlock matches", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harden-verify-'));
    const egress = (to: string) => {
      const file = path.join(dir, `${to.length}.yaml`);
      fs.writeFileSync(
        file,
        [
          'apiVersion: networking.k8s.io/v1',
          'kind: NetworkPolicy',
          'metadata: {name: out, namespace: web}',
          'spec:',
          '  podSelector: {}',
          '  policyTypes: [Egress]',
          `  egress: [{to: [${to}], ports: [{port: 9100}]}, {to: [{ipBlock: {cidr: 192.168.10.0/24}}], ports: [{port: 10250}]}]`,
          '',
        ].join('\n'),
      );
      return file;
    };
    const judged = async (to: string) => {
      const input = path.join(GOLDEN_DIR, 'netpol', 'node-ingress.log.jsonl');
      const r = await verify({ input, files: [egress(to)], output: 'json' }, {});
      const result = JSON.parse(r.out) as { denied: { direction: string; rows: { peer: string }[] }[] };
      return result.denied
        .filter((d) => d.direction === 'egress')
        .flatMap((d) => d.rows.map((row) => row.peer));
    };
    expect(await judged('{ipBlock: {cidr: 192.168.10.0/24}}')).toEqual([]);
    expect(await judged('{namespaceSelector: {}, podSelector: {matchLabels: {app: node-exporter}}}')).toEqual(
      ['service monitoring/node-exporter'],
    );
  });

  it("ingress from another node's address is policed, from the target's own node it is not", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harden-verify-'));
    const denyIngress = path.join(dir, 'deny.yaml');
    fs.writeFileSync(
      denyIngress,
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: web}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n',
    );
    const r = await verify(
      {
        input: path.join(GOLDEN_DIR, 'netpol', 'node-ingress.log.jsonl'),
        files: [denyIngress],
        output: 'json',
      },
      {},
    );
    expect(r.code).toBe(1);
    // worker-2's addresses (v4 and v6) are denied; worker-1, the frontend's own node, is exempt.
    const result = JSON.parse(r.out) as { deniedConnections: number; denied: { rows: { peer: string }[] }[] };
    expect(result.deniedConnections).toBe(2);
    expect(result.denied.flatMap((d) => d.rows.map((row) => row.peer))).toEqual(['node worker-2']);
    expect(r.err).not.toContain('taken to come from the pod’s own node');
  });

  it("puts a namespaceless policy in the context's namespace without -n, as kubectl apply -f would", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'harden-verify-'));
    const file = path.join(dir, 'policies.yaml');
    fs.writeFileSync(file, fs.readFileSync(POLICIES, 'utf8').replace(/, namespace: web \}/g, ' }'));
    const inContext = await verify({ files: [file] }, { contextNamespace: 'web' });
    expect(inContext.err).toMatch(
      /NetworkPolicies without a namespace \(frontend, api\) are taken to be in "web"/,
    );
    // Judged where they land: the same verdict as the policies that name web.
    expect(inContext.code).toBe((await verify({ files: [POLICIES] })).code);
    const noKubeconfig = await verify({ files: [file] });
    expect(noKubeconfig.err).toMatch(/are taken to be in "default"/);
    const flag = await verify({ files: [file], namespace: 'other' }, { contextNamespace: 'web' });
    expect(flag.err).toMatch(/are taken to be in "other"/);
  });

  it('prints the denied flows by workload and direction, the notes, and exits 1', async () => {
    const r = await verify({ files: [POLICIES] });
    expect(r.code).toBe(1);
    expectGolden('netpol-verify/log/replay.table.txt', r.out);
    expectGolden('netpol-verify/log/replay.stderr.txt', portable(r.err));
  });

  it("the summary counts flows as the FLOWS column does: the log's counts, not its lines", async () => {
    const r = await verify({ files: [POLICIES] });
    const column = r.out
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(/\s{3,}/)[5]));
    const shown = column.reduce((a, b) => a + b, 0);
    expect(r.err).toContain(`${shown} flows in 5 connections denied`);
    // The log has 10 flow lines whose counts sum to 30.
    expect(r.err).toContain('30 flows (10 log lines, 9 distinct connections) against 3 policies');
  });

  it('a log with a gap says so: what was not recorded was not verified', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-gap-'));
    const log = path.join(dir, 'gap.log');
    const gap = {
      kind: 'gap',
      node: 'node-1',
      from: '2025-01-01T00:00:10Z',
      to: '2025-01-01T00:00:12Z',
      reason: 'AgentRestarted',
    };
    fs.writeFileSync(log, fs.readFileSync(LOG, 'utf8') + JSON.stringify(gap) + '\n');
    const r = await verify({ input: log, files: [POLICIES] });
    expect(r.err).toContain(
      'note: node node-1 traced nothing (pods that ran only then are not in the flow log) from 2025-01-01T00:00:10Z to 2025-01-01T00:00:12Z (2.0 s): the node agent was not running',
    );
    expect(r.err).toContain(
      'note: 1 gap in the log: connections made then are not in the log, so they were not verified',
    );
  });

  it('-o yaml carries the same result for machines', async () => {
    const r = await verify({ files: [POLICIES], output: 'yaml' });
    expect(r.code).toBe(1);
    expectGolden('netpol-verify/log/replay.yaml', r.out);
  });

  it('-o json parses, and counts the denied connections', async () => {
    const r = await verify({ files: [POLICIES], output: 'json' });
    const result = JSON.parse(r.out);
    expect(result).toMatchObject({
      flows: 30,
      flowLines: 10,
      policies: 3,
      deniedConnections: 5,
      deniedFlows: 10,
    });
  });

  it('exits 0 and prints nothing on stdout when nothing is denied', async () => {
    const allowAll = [
      'apiVersion: networking.k8s.io/v1',
      'kind: NetworkPolicy',
      'metadata: {name: all, namespace: web}',
      'spec: {podSelector: {}, policyTypes: [Ingress, Egress], ingress: [{}], egress: [{}]}',
    ].join('\n');
    const r = await verify({ files: ['-'] }, { stdin: allowAll });
    expect(r).toMatchObject({ code: 0, out: '' });
    expect(r.err).toContain(
      '30 flows (10 log lines, 9 distinct connections) against 1 policy: 0 flows in 0 connections denied',
    );
  });

  it('reads a directory of YAML and JSON, and a kind: List', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-'));
    try {
      const denyApi = {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'deny-api', namespace: 'web' },
        spec: { podSelector: { matchLabels: { app: 'api' } } },
      };
      fs.writeFileSync(
        path.join(dir, 'a.json'),
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [denyApi] }),
      );
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'not read');
      const r = await verify({ files: [dir], output: 'json' });
      expect(r.code).toBe(1);
      const result = JSON.parse(r.out);
      // The api's ingress, from the node's probes aside (always allowed): prometheus, and frontend's calls.
      expect(
        result.denied.map(
          (g: { workload: { name: string }; direction: string }) => `${g.workload.name}/${g.direction}`,
        ),
      ).toEqual(['api/ingress', 'frontend/egress']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--from-cluster reads the policies of the log’s namespaces; a file replaces one of the same name', async () => {
    const asked: string[] = [];
    const kube: Kube = {
      ctx: { cluster: 'staging', context: 'me@staging' } as Kube['ctx'],
      namespace: 'web',
      get: (async (p: string) => {
        asked.push(p);
        const items = p.includes('/namespaces/web/')
          ? [
              {
                metadata: { name: 'api', namespace: 'web' },
                spec: { podSelector: { matchLabels: { app: 'api' } } },
              },
            ]
          : p.includes('/namespaces/shop/')
            ? // Another app's policy: the namespace is the log's, the pods are not.
              [
                {
                  metadata: { name: 'other-app', namespace: 'shop' },
                  spec: { podSelector: { matchLabels: { app: 'other' } } },
                },
              ]
            : [];
        return { items };
      }) as Kube['get'],
    };
    const cluster = await verify({ fromCluster: true, output: 'json' }, { kube });
    expect(asked).toEqual([
      '/apis/networking.k8s.io/v1/namespaces/default/networkpolicies',
      '/apis/networking.k8s.io/v1/namespaces/monitoring/networkpolicies',
      '/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies',
      '/apis/networking.k8s.io/v1/namespaces/web/networkpolicies',
    ]);
    expect(cluster.err).toContain(
      'note: the log was recorded on cluster "prod" (context "admin@prod"); policies are read from cluster "staging" (context "me@staging")',
    );
    expect(cluster.err).not.toContain('select no pod');
    // The cluster's api policy denies all ingress: both frontends' calls, prometheus and the
    // hostNetwork node-exporter (the node's probes aside); frontend has no policy there.
    expect(JSON.parse(cluster.out).deniedConnections).toBe(4);
    // The file's api policy replaces it and lets prometheus in (a namespaceSelector matches no
    // hostNetwork pod, so node-exporter stays out); the file's frontend policy adds two.
    const both = await verify({ fromCluster: true, files: [POLICIES], output: 'json' }, { kube });
    expect(JSON.parse(both.out).deniedConnections).toBe(5);
    const api = JSON.parse(both.out).denied.find(
      (g: { workload: { name: string } }) => g.workload.name === 'api',
    );
    expect(api.rows.map((r: { peer: string }) => r.peer)).toEqual([
      'DaemonSet monitoring/node-exporter (hostNetwork)',
    ]);
  });

  it('names an invalid policy and the API server’s objection', async () => {
    const bad = [
      'apiVersion: networking.k8s.io/v1',
      'kind: NetworkPolicy',
      'metadata: {name: broken, namespace: web}',
      'spec:',
      '  podSelector: {matchExpressions: [{key: app, operator: In}]}',
    ].join('\n');
    await expect(verify({ files: ['-'] }, { stdin: bad })).rejects.toThrow(
      'invalid NetworkPolicy web/broken (stdin): spec.podSelector: matchExpressions[0]: operator In needs at least one value',
    );
  });

  it('asks for policies when given none, and refuses stdin twice', async () => {
    await expect(verify({})).rejects.toThrow('no policies to verify against');
    await expect(verify({ input: '-', files: ['-'] })).rejects.toThrow('both read stdin');
  });

  it('an empty directory, or a file with no NetworkPolicy, is an error: nothing was verified', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-empty-'));
    try {
      await expect(verify({ files: [dir] })).rejects.toThrow(
        `no NetworkPolicy in ${dir}: nothing to verify against`,
      );
      const configMap = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n';
      fs.writeFileSync(path.join(dir, 'cm.yaml'), configMap);
      await expect(verify({ files: [dir] })).rejects.toThrow(
        `no NetworkPolicy in ${dir}: nothing to verify against`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing policy file is a clear error', async () => {
    await expect(verify({ files: ['/nonexistent/p.yaml'] })).rejects.toThrow(
      'cannot read policies "/nonexistent/p.yaml": no such file',
    );
  });
});

describe('netpol verify exit codes through the CLI', () => {
  async function run(args: string[]) {
    let err = '';
    const o = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const e = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
      err += String(c);
      return true;
    });
    try {
      return { code: await main(args), err };
    } finally {
      o.mockRestore();
      e.mockRestore();
      process.exitCode = undefined; // the handler sets it for the real process; not for jest's
    }
  }

  it('1 when flows would be denied, 0 when none', async () => {
    expect((await run(['netpol', 'verify', '--input', LOG, '-f', POLICIES])).code).toBe(1);
    const ok = path.join(NETPOL_GOLDEN, 'dns.yaml');
    expect(
      (await run(['netpol', 'verify', '--input', path.join(NETPOL_GOLDEN, 'dns.log.jsonl'), '-f', ok])).code,
    ).toBe(0);
  });

  it('2 for usage errors and bad input, so CI can tell them from denied flows', async () => {
    expect((await run(['netpol', 'verify', '-f', POLICIES])).code).toBe(2);
    expect((await run(['netpol', 'verify', '--input', '/nonexistent', '-f', POLICIES])).code).toBe(2);
    expect((await run(['netpol', 'verify', '--input', LOG, '-f', POLICIES, '-o', 'wide'])).code).toBe(2);
    // Other verbs keep kubectl's 1.
    expect((await run(['netpol', 'report'])).code).toBe(1);
  });
});
