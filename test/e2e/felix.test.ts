// The node's NetworkPolicy implementation is real: Calico's felix, run by the testenv as calico-node
// runs it, programs iptables + ipsets on the Calico-CNI pods kubelet starts, so that a policy's allowed
// traffic passes and everything else is dropped.
import { kubectl } from '../support/exec';
import { eventually } from '../support/eventually';
import { deleteNamespace, execInKubePod, runKubePod, testImage, type KubePod } from '../support/kube-pods';

const NS = 'felix-e2e';

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
  /** curl's exit code: 28 is its own timeout (no answer), 7 a refused connection. */
  code: number;
  ms: number;
  out: string;
}

describe('NetworkPolicy enforcement (felix)', () => {
  let web: KubePod;
  let allowed: KubePod;
  let other: KubePod;

  /** One HTTP GET from a client pod to nginx by pod IP, given up after 2 s without an answer. */
  async function probe(client: KubePod): Promise<Probe> {
    const t0 = process.hrtime.bigint();
    const url = `http://${web.status.podIP}:8080/`;
    const r = await execInKubePod(NS, client.metadata.name, ['curl', '-sS', '-m', '2', url], {
      timeoutMs: 15_000,
    });
    return {
      ok: r.code === 0 && r.stdout.includes('nginx'),
      code: r.code,
      ms: Number(process.hrtime.bigint() - t0) / 1e6,
      out: `${r.stdout}${r.stderr}`,
    };
  }

  /** Polls until the probe gives `want` (felix applies changes asynchronously), then returns that probe. */
  const until = (client: KubePod, want: boolean): Promise<Probe> =>
    eventually(
      () => probe(client),
      (p) => p.ok === want,
      { withinMs: 30_000 },
    );

  beforeAll(async () => {
    web = await runKubePod({
      namespace: NS,
      name: 'web',
      image: testImage('nginxUnprivileged'),
      labels: { app: 'web' },
      readyPort: 8080,
    });
    allowed = await runKubePod({
      namespace: NS,
      name: 'allowed',
      image: testImage('curl'),
      labels: { role: 'allowed' },
    });
    other = await runKubePod({ namespace: NS, name: 'other', image: testImage('curl') });
  }, 300_000);

  afterAll(async () => {
    await deleteNamespace(NS);
  }, 180_000);

  it('lets every client in while no policy selects the server', async () => {
    expect(await until(allowed, true)).toMatchObject({ ok: true });
    expect(await until(other, true)).toMatchObject({ ok: true });
  });

  it('drops what the policy does not allow and passes what it does', async () => {
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(POLICY) });
    const denied = await until(other, false);
    expect(denied.ok).toBe(false);
    // Dropped, not refused: no answer at all until curl's 2 s timeout.
    expect(denied).toMatchObject({ code: 28 });
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
});
