import { FakeCluster, runCli } from '../fake-cluster';

/** What each verb's -o really takes; undefined: the verb offers no -o at all. */
const OUTPUT: [string[], string[] | undefined][] = [
  [['version'], ['table', 'json', 'yaml']],
  [['deploy'], ['yaml', 'json']],
  [['undeploy'], undefined],
  [['status'], ['table', 'json', 'yaml']],
  [['seccomp', 'start'], undefined],
  [
    ['seccomp', 'stop'],
    ['json', 'crd'],
  ],
  [
    ['seccomp', 'show'],
    ['json', 'crd'],
  ],
  [
    ['seccomp', 'list'],
    ['table', 'json', 'yaml'],
  ],
  [
    ['netpol', 'report'],
    ['yaml', 'json', 'cilium'],
  ],
  [['netpol', 'monitor'], undefined],
];

describe('--help offers what a verb takes, and only that', () => {
  test.each(OUTPUT)('%j -o', async (verb, formats) => {
    const r = await runCli([...verb, '--help'], new FakeCluster());
    expect(r.code).toBe(0);
    const option = /-o, --output\s+Output format[^[]*\[string\] \[choices: ([^\]]+)\]/.exec(r.out);
    expect(option?.[1]).toBe(formats?.map((f) => `"${f}"`).join(', '));
  });

  test.each(OUTPUT.map(([verb]) => [verb, verb.join(' ') === 'seccomp list']))(
    '%j -A only where it lists (%s)',
    async (verb, lists) => {
      const r = await runCli([...verb, '--help'], new FakeCluster());
      expect(/-A, --all-namespaces/.test(r.out)).toBe(lists);
    },
  );
});
