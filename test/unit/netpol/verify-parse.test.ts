import type { NetpolVerifyOptions } from '../../../lib/cli/netpol-verify-run';

// The run function is replaced: this file checks only what the parser hands it.
const runs: NetpolVerifyOptions[] = [];
jest.mock('../../../lib/cli/netpol-verify-run', () => ({
  runNetpolVerify: async (argv: NetpolVerifyOptions) => {
    runs.push(argv);
    return 0;
  },
}));

import { main } from '../../../lib/cli/main';

async function parsed(args: string[]): Promise<NetpolVerifyOptions> {
  runs.length = 0;
  const code = await main(args);
  process.exitCode = undefined;
  expect(code).toBe(0);
  expect(runs).toHaveLength(1);
  return runs[0];
}

describe('netpol verify flags', () => {
  it('-f takes "-" for stdin, and repeats', async () => {
    expect((await parsed(['netpol', 'verify', '--input', 'net.log', '-f', '-'])).files).toEqual(['-']);
    expect(
      (await parsed(['netpol', 'verify', '--input', '-', '-f', 'a.yaml', '--filename', 'dir/'])).files,
    ).toEqual(['a.yaml', 'dir/']);
  });

  it('--from-cluster is its own flag; --cluster stays kubectl’s kubeconfig cluster', async () => {
    const a = await parsed(['netpol', 'verify', '--input', 'x', '--from-cluster', '--cluster', 'prod']);
    expect(a).toMatchObject({ fromCluster: true });
  });
});
