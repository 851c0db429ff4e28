// The testenv's NetworkPolicy implementation is real: Calico's felix, started by `testenv up` as
// calico-node runs it, polices the kubelet pods that Calico's CNI plugin wired; a policy's allowed
// traffic passes and everything else is dropped.
import * as http from 'node:http';
import { eventually } from '../support/eventually';
import { kubectl } from '../support/exec';
import { felixLeftovers } from '../support/felix';
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
  timedOut: boolean;
  ms: number;
  out: string;
}

/** Felix's own readiness endpoint (testenv runs it on 127.0.0.1:9099). */
function felixReadiness(): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: 9099, path: '/readiness', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

describe('NetworkPolicy enforcement (felix)', () => {
  let web: KubePod;

  /** One HTTP GET from a client pod to the server, given up after 2 s without an answer. */
  async function probe(client: string): Promise<Probe> {
    const t0 = Date.now();
    const url = `http://${web.status.podIP}:8080/`;
    const r = await execInKubePod(NS, client, ['curl', '-sS', '--max-time', '2', url], { timeoutMs: 15_000 });
    return {
      ok: r.code === 0 && r.stdout.includes('nginx'),
      timedOut: r.code === 28, // curl: operation timed out
      ms: Date.now() - t0,
      out: `${r.stdout}${r.stderr}`,
    };
  }

  /** Polls until the probe gives `want` (felix applies changes asynchronously), then returns that probe. */
  const until = (client: string, want: boolean): Promise<Probe> =>
    eventually(
      () => probe(client),
      (p) => p.ok === want,
      { withinMs: 30_000 },
    );

  beforeAll(async () => {
    expect(await felixReadiness()).toBe(200);
    web = await runKubePod({
      namespace: NS,
      name: 'web',
      image: testImage('nginxUnprivileged'),
      labels: { app: 'web' },
      readyPort: 8080,
    });
    await runKubePod({
      namespace: NS,
      name: 'allowed',
      image: testImage('curl'),
      labels: { role: 'allowed' },
    });
    await runKubePod({ namespace: NS, name: 'other', image: testImage('curl') });
  }, 300_000);

  afterAll(async () => {
    await deleteNamespace(NS);
  }, 180_000);

  it('lets every client in while no policy selects the server', async () => {
    expect(await until('allowed', true)).toMatchObject({ ok: true });
    expect(await until('other', true)).toMatchObject({ ok: true });
  });

  it('drops what the policy does not allow and passes what it does', async () => {
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(POLICY) });
    const denied = await until('other', false);
    expect(denied.ok).toBe(false);
    // Dropped, not refused: no answer at all until the 2 s timeout.
    expect(denied.timedOut).toBe(true);
    expect(denied.ms).toBeGreaterThanOrEqual(1900);
    // Stays dropped (not a transient), while the labelled client still gets the page.
    expect((await probe('other')).ok).toBe(false);
    expect((await probe('allowed')).ok).toBe(true);
    // The drop is felix's: its chains are in the kernel.
    expect((await felixLeftovers()).rules.length).toBeGreaterThan(0);
  });

  it('restores access when the policy is deleted', async () => {
    await kubectl(['delete', 'networkpolicy', POLICY.metadata.name, '-n', NS]);
    expect(await until('other', true)).toMatchObject({ ok: true });
    expect((await probe('allowed')).ok).toBe(true);
  });
});
