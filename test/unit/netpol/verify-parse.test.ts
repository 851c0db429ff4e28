import type { NetpolVerifyArgs } from '../../../lib/cli/netpol';

// The run function is replaced: this file checks only what the parser hands it.
const runs: NetpolVerifyArgs[] = [];
jest.mock('../../../lib/cli/netpol-verify-run', () => ({
  runNetpolVerify: async (argv: NetpolVerifyArgs) => {
    runs.push(argv);
    return 0;
  },
}));

import { main } from '../../../lib/cli/main';

async function parsed(args: string[]): Promise<NetpolVerifyArgs> {
  runs.length = 0;
  const code = await main(args);
  process.exitCode = undefined;
  expect(code).toBe(0);
  expect(runs).toHaveLength(1);
  return runs[0];
}

describe('netpol verify flags', () => {
  it('-f takes "-" for stdin, and repeats', async () => {
    expect((await parsed(['netpol', 'verify', '--input', 'net.log', '-f', '-'])).filename).toBe('-');
    expect(
      (await parsed(['netpol', 'verify', '--input', '-', '-f', 'a.yaml', '--filename', 'dir/'])).filename,
    ).toEqual(['a.yaml', 'dir/']);
  });

  it('--from-cluster is its own flag; --cluster stays kubectl’s kubeconfig cluster', async () => {
    const a = await parsed(['netpol', 'verify', '--input', 'x', '--from-cluster', '--cluster', 'prod']);
    expect(a).toMatchObject({ fromCluster: true, cluster: 'prod' });
  });
});
