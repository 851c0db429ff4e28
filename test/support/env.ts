// Where the testenv lives: the same values `scripts/testenv/testenv env` prints, with the same defaults.
import * as path from 'node:path';

export interface TestenvEnv {
  state: string;
  cache: string;
  kubeconfig: string;
  binDir: string;
  /** process.env with KUBECONFIG, PATH and HARDEN_TESTENV set for the testenv. */
  processEnv: NodeJS.ProcessEnv;
}

export function testenvEnv(): TestenvEnv {
  const state = process.env.HARDEN_TESTENV ?? '/run/kubectl-harden-testenv';
  const cache = process.env.HARDEN_CACHE ?? '/var/cache/kubectl-harden';
  const kubeconfig = path.join(state, 'admin.kubeconfig');
  const binDir = path.join(cache, 'bin', 'current');
  const pathVar = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const processEnv: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: kubeconfig,
    HARDEN_TESTENV: state,
    HARDEN_CACHE: cache,
    PATH: pathVar.split(':').includes(binDir) ? pathVar : `${binDir}:${pathVar}`,
  };
  return { state, cache, kubeconfig, binDir, processEnv };
}
