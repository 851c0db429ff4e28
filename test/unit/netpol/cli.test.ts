import * as path from 'node:path';
import { main } from '../../../lib/cli/main';
import { NETPOL_GOLDEN } from './helpers';

/** Runs the CLI in-process and captures what it writes. */
async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => {
    err += String(c);
    return true;
  });
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

const log = (name: string) => path.join(NETPOL_GOLDEN, `${name}.log.jsonl`);

describe('kubectl harden netpol report', () => {
  it('writes multi-document YAML to stdout and the summary to stderr', async () => {
    const r = await run(['netpol', 'report', '--input', log('several-ports-one-peer')]);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n')).toBe(true);
    expect(r.err).toBe('4 flows, 1 policy, 0 lines skipped\n');
  });

  it('-o json writes a List', async () => {
    const r = await run(['netpol', 'report', '--input', log('dns'), '-o', 'json']);
    expect(JSON.parse(r.out)).toMatchObject({
      apiVersion: 'v1',
      kind: 'List',
      items: [{ kind: 'NetworkPolicy' }],
    });
  });

  it('rejects -o table', async () => {
    const r = await run(['netpol', 'report', '--input', log('dns'), '-o', 'table']);
    expect(r).toMatchObject({ code: 1, out: '' });
    expect(r.err).toContain('unknown output format "table"');
  });

  it('a header-only log: no output, and a note why', async () => {
    const r = await run(['netpol', 'report', '--input', log('empty')]);
    expect(r).toMatchObject({ code: 0, out: '' });
    expect(r.err).toContain('no flows');
  });

  it('a missing file is a clear error', async () => {
    const r = await run(['netpol', 'report', '--input', '/nonexistent/net.log']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      'error: cannot read flow log "/nonexistent/net.log": no such file\n' +
        'Pass the file written by `kubectl harden netpol monitor --output FILE`, or - for stdin.\n',
    );
  });

  it('a malformed line names it and suggests --skip-invalid', async () => {
    const r = await run(['netpol', 'report', '--input', path.join(NETPOL_GOLDEN, 'dns.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: flow log \/.*dns\.yaml:1: not JSON/);
  });

  it('--input is required', async () => {
    const r = await run(['netpol', 'report']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('input');
  });
});
