// The testenv's NetworkPolicy implementation is real: Calico's felix, fed by the API server, programs
// iptables + ipsets so that a policy's allowed traffic passes and everything else is dropped.
import { felixLeftovers, startFelix, type Felix } from '../support/felix';
import { kubectl } from '../support/exec';
import { deletePod, execInPod, runPod, type Pod } from '../support/pods';
import { eventually } from '../support/eventually';

const NS = 'felix-e2e';
const PAGE = 'hello from harden testenv';

const POLICY = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'web-from-allowed', namespace: NS },
  spec: {
    podSelector: { matchLabels: { app: 'web' } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        from: [{ podSelector: { matchLabels: { role: 'allowed' } } }],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
    ],
  },
};

interface Probe {
  ok: boolean;
  timedOut: boolean;
  ms: number;
  out: string;
}

describe('NetworkPolicy enforcement (felix)', () => {
  let felix: Felix | undefined;
  const pods: Pod[] = [];
  let web: Pod;
  let allowed: Pod;
  let other: Pod;

  /**
   * One bounded HTTP GET from a client pod to the server, given up after 2 s without an answer. `timeout`
   * bounds it rather than `wget -T`, which segfaults in Debian's busybox 1.35.
   */
  async function probe(client: Pod): Promise<Probe> {
    const t0 = Date.now();
    const url = `http://${web.ip}:8080/`;
    const r = await execInPod(client, 'c', ['timeout', '2', 'wget', '-q', '-O', '-', url], {
      timeoutMs: 15_000,
    });
    return {
      ok: r.code === 0 && r.stdout.includes(PAGE),
      timedOut: r.code === 143, // killed by timeout's SIGTERM
      ms: Date.now() - t0,
      out: `${r.stdout}${r.stderr}`,
    };
  }

  /** Polls until the probe gives `want` (felix applies changes asynchronously), then returns that probe. */
  const until = (client: Pod, want: boolean): Promise<Probe> =>
    eventually(
      () => probe(client),
      (p) => p.ok === want,
      { withinMs: 30_000 },
    );

  beforeAll(async () => {
    // The first run builds felix from the module proxy (minutes); later runs reuse the cached binary.
    felix = await startFelix();
    const pod = async (name: string, labels: Record<string, string>, args: string[]): Promise<Pod> => {
      const p = await runPod({ namespace: NS, name, labels, containers: [{ name: 'c', args }] });
      pods.push(p);
      return p;
    };
    web = await pod('web', { app: 'web' }, ['httpd', '-f', '-p', '8080', '-h', '/www']);
    allowed = await pod('allowed', { role: 'allowed' }, ['sleep', '3600']);
    other = await pod('other', {}, ['sleep', '3600']);
  }, 30 * 60_000);

  afterAll(async () => {
    await kubectl(['delete', 'networkpolicy', '--all', '-n', NS, '--ignore-not-found']).catch(
      () => undefined,
    );
    for (const p of pods) await deletePod(p).catch(() => undefined);
    await felix?.stop();
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  });

  it('lets every client in while no policy selects the server', async () => {
    // Felix drops traffic of a cali* interface until it has programmed that endpoint: wait for it.
    expect(await until(allowed, true)).toMatchObject({ ok: true });
    expect(await until(other, true)).toMatchObject({ ok: true });
  });

  it('drops what the policy does not allow and passes what it does', async () => {
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(POLICY) });
    const denied = await until(other, false);
    expect(denied.ok).toBe(false);
    // Dropped, not refused: no answer at all until the 2 s timeout.
    expect(denied).toMatchObject({ timedOut: true, out: '' });
    expect(denied.ms).toBeGreaterThanOrEqual(1900);
    // Stays dropped (not a transient), while the labelled client still gets the page.
    expect((await probe(other)).ok).toBe(false);
    expect((await probe(allowed)).ok).toBe(true);
  });

  it('restores access when the policy is deleted', async () => {
    await kubectl(['delete', 'networkpolicy', POLICY.metadata.name, '-n', NS]);
    expect(await until(other, true)).toMatchObject({ ok: true });
    expect((await probe(allowed)).ok).toBe(true);
  });

  it('leaves no felix process, chain or ipset after stop', async () => {
    const pid = felix?.pid;
    await felix?.stop();
    felix = undefined;
    expect(pid).toBeDefined();
    expect(() => process.kill(pid!, 0)).toThrow();
    expect(await felixLeftovers()).toEqual({ rules: [], ipsets: [] });
  });
});
