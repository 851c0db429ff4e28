import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { NETPOL_GOLDEN, logText } from '../netpol/helpers';
import { FakeCluster, runCli } from '../fake-cluster';

/** `netpol report` needs no cluster: every run here must leave the fake untouched. */
async function run(args: string[]) {
  const r = await runCli(['netpol', 'report', ...args], new FakeCluster());
  expect(r.connects).toBe(0);
  return r;
}

const log = (name: string) => path.join(NETPOL_GOLDEN, `${name}.log.jsonl`);

describe('kubectl harden netpol report', () => {
  it('writes multi-document YAML to stdout and the summary to stderr', async () => {
    const r = await run(['--input', log('several-ports-one-peer')]);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n')).toBe(true);
    expect(r.err).toBe('4 flows, 1 policy, 0 lines skipped\n');
  });

  it('-o json writes a List', async () => {
    const r = await run(['--input', log('dns'), '-o', 'json']);
    expect(JSON.parse(r.out)).toMatchObject({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ kind: 'NetworkPolicy' }],
    });
  });

  it('rejects -o table while parsing, naming the formats it takes', async () => {
    const r = await run(['--input', log('dns'), '-o', 'table']);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toContain('Argument: output, Given: "table", Choices: "yaml", "json"');
  });

  it('a header-only log: no output, and a note why', async () => {
    const r = await run(['--input', log('empty')]);
    expect(r).toMatchObject({ code: 0, out: '' });
    expect(r.err).toContain('no flows');
  });

  it('a missing file is a clear error', async () => {
    const r = await run(['--input', '/nonexistent/net.log']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'error: cannot read flow log "/nonexistent/net.log": no such file\n' +
        'Pass the file written by `kubectl harden netpol monitor --output FILE`, or - for stdin.\n',
    );
  });

  it('a malformed flow line names it and suggests --skip-invalid', async () => {
    const [header] = logText('dns').split('\n');
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'harden-unit-')), 'bad.log');
    writeFileSync(file, `${header}\n{"kind":"flow"}\n`);
    const r = await run(['--input', file]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: flow log ".*bad\.log": line 2: /);
    expect(r.err).toContain('pass --skip-invalid to count and skip malformed lines');
  });

  it('a file that is no flow log at all is not offered --skip-invalid', async () => {
    const r = await run(['--input', path.join(NETPOL_GOLDEN, 'dns.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: flow log ".*dns\.yaml": line 1: not JSON/);
    expect(r.err).toContain('Is this a log written by `kubectl harden netpol monitor`?');
    expect(r.err).not.toContain('--skip-invalid');
  });

  it('--input is required', async () => {
    const r = await run([]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('Missing required argument: input');
  });
});
