// The agent as users install it: `kubectl harden deploy --image <this worktree's agent image>`, a
// DaemonSet pod kubelet pulls from the local registry and runs until its readiness probe passes.
// The agent is cluster-wide and the cluster is shared: whoever deploys it puts back what was there.
import { AGENT_NAME, AGENT_NAMESPACE } from '../../lib/deploy/manifests';
import { harden } from './cluster';
import { testenvEnv } from './env';
import { runRaw } from './exec';
import { testImage } from './kube-pods';

/** Deploys this worktree's agent image and waits for Ready; the returned function undoes it. */
export async function deployAgent(): Promise<() => Promise<void>> {
  const before = await runRaw(
    'kubectl',
    ['get', 'daemonset', AGENT_NAME, '-n', AGENT_NAMESPACE, '--ignore-not-found', '-o', 'name'],
    { env: testenvEnv().processEnv },
  );
  const wasDeployed = before.code === 0 && before.stdout.trim() !== '';
  const r = await harden(['deploy', '--image', testImage('agent'), '--timeout', '180s'], {
    timeoutMs: 240_000,
  });
  if (r.code !== 0) throw new Error(`kubectl harden deploy failed (exit ${r.code}):\n${r.stderr}`);
  return async () => {
    // Left deployed when it was found deployed: another user of the cluster may be tracing with it.
    if (wasDeployed) return;
    const u = await harden(['undeploy', '--force']);
    if (u.code !== 0) throw new Error(`kubectl harden undeploy failed (exit ${u.code}):\n${u.stderr}`);
  };
}
