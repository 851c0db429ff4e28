// Namespaces for test workloads: created on demand, usable once pod admission can use them.
import { testenvEnv } from './env';
import { runRaw } from './exec';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Creates a namespace (if missing) and waits for its default ServiceAccount (pod admission needs it).
 * A namespace still terminating from an earlier run is waited out first.
 */
export async function ensureNamespace(ns: string, timeoutMs = 90_000): Promise<void> {
  const env = testenvEnv().processEnv;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await runRaw('kubectl', ['get', 'namespace', ns, '-o', 'jsonpath={.status.phase}'], { env });
    if (r.code === 0 && r.stdout === 'Active') break;
    if (r.code !== 0 && /NotFound|not found/.test(r.stderr)) {
      const c = await runRaw('kubectl', ['create', 'namespace', ns], { env });
      if (c.code === 0 || /AlreadyExists/.test(c.stderr)) continue;
      throw new Error(`kubectl create namespace ${ns}: ${c.stderr}`);
    }
    if (r.code !== 0 && !/NotFound|not found/.test(r.stderr))
      throw new Error(`kubectl get namespace ${ns}: ${r.stderr}`);
    if (Date.now() > deadline) throw new Error(`namespace ${ns} is still ${r.stdout || 'missing'}`);
    await sleep(250);
  }
  for (;;) {
    const sa = await runRaw('kubectl', ['get', 'serviceaccount', 'default', '-n', ns], { env });
    if (sa.code === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `namespace ${ns}: default ServiceAccount never appeared (is kube-controller-manager running?)`,
      );
    }
    await sleep(250);
  }
}
