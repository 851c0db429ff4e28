import { EventEmitter } from 'node:events';
import { loadAll } from 'js-yaml';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { exitQuietlyOnEpipe } from '../../../lib/cli/context';
import { printable } from '../../../lib/cli/errors';
import { NETPOL_GOLDEN, logText } from '../netpol/helpers';
import { FakeCluster, runCli } from '../fake-cluster';

/** `netpol report` needs no cluster: every run here must leave the fake untouched. */
async function run(args: string[]) {
  const r = await runCli(['netpol', 'report', ...args], new FakeCluster());
  expect(r.connects).toBe(0);
  return r;
}

const log = (name: string) => path.join(NETPOL_GOLDEN, `${name}.log.jsonl`);
const tmp = mkdtempSync(path.join(tmpdir(), 'harden-netpol-cli-'));

/** A log of one workload talking to n external addresses on 443. */
function externalLog(n: number): string {
  const [header, first] = logText('external-ipv4').trim().split('\n');
  const flow = JSON.parse(first) as Record<string, unknown>;
  const lines = [header];
  for (let i = 0; i < n; i++) {
    const ip = `${11 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.${7 + (i % 200)}`;
    lines.push(
      JSON.stringify({
        ...flow,
        direction: 'egress',
        remoteIP: ip,
        remotePort: 443,
        peer: { kind: 'external', ip, family: 4 },
      }),
    );
  }
  const file = path.join(tmp, `external-${n}.log`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

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
    expect(r.err).toContain('Argument: output, Given: "table", Choices: "yaml", "json", "cilium"');
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
    expect(r.err).toMatch(/^error: flow log \/.*bad\.log:2: /);
    expect(r.err).toContain('pass --skip-invalid to count and skip malformed lines');
  });

  it('a file that is no flow log at all is not offered --skip-invalid', async () => {
    const r = await run(['--input', path.join(NETPOL_GOLDEN, 'dns.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: flow log \/.*dns\.yaml:1: not JSON/);
    expect(r.err).toContain('Is this a log written by `kubectl harden netpol monitor`?');
    expect(r.err).not.toContain('--skip-invalid');
  });

  it('-o cilium writes CiliumNetworkPolicy YAML', async () => {
    const r = await run(['--input', log('dns'), '-o', 'cilium']);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('---\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n')).toBe(true);
  });

  it.each([
    ['yaml', 'NetworkPolicies'],
    ['cilium', 'CiliumNetworkPolicies'],
  ])(
    '-o %s: a policy over the 256 KiB kubectl apply takes is split into policies that fit and add up to it',
    async (format, kind) => {
      const r = await run(['--input', externalLog(20_000), '-o', format]);
      expect(r.code).toBe(0);
      const docs = loadAll(r.out) as {
        metadata: { name: string };
        spec: Record<string, unknown> & { egress: Record<string, unknown>[] };
      }[];
      expect(docs.length).toBeGreaterThan(1);
      expect(docs.map((d) => d.metadata.name)).toEqual(
        docs.map((_, i) => (i ? `frontend-harden-${i + 1}` : 'frontend-harden')),
      );
      for (const d of docs) {
        expect(Buffer.byteLength(JSON.stringify(d))).toBeLessThan(256 * 1024 - 1024);
        // The same pods, isolated the same way, in every part.
        const selector = format === 'cilium' ? d.spec.endpointSelector : d.spec.podSelector;
        expect(selector).toEqual({ matchLabels: { app: 'frontend', tier: 'web' } });
      }
      // Together they allow every address seen, each once; nothing was widened.
      const cidrs = docs.flatMap((d) =>
        d.spec.egress.flatMap((rule) =>
          format === 'cilium'
            ? ((rule.toCIDR as string[] | undefined) ?? [])
            : ((rule.to as { ipBlock?: { cidr: string } }[])
                .map((t) => t.ipBlock?.cidr)
                .filter(Boolean) as string[]),
        ),
      );
      const external = cidrs.filter((c) => c !== '169.254.20.10/32');
      expect(external).toHaveLength(20_000);
      expect(new Set(external).size).toBe(20_000);
      expect(r.err).toContain('note: policy web/frontend-harden is ');
      expect(r.err).toMatch(
        new RegExp(
          `over the 256 KiB kubectl apply's last-applied-configuration annotation can hold: written as ${docs.length} ${kind} with its selector \\(frontend-harden, frontend-harden-2`,
        ),
      );
    },
  );

  it('--aggregate makes the same log fit', async () => {
    const r = await run(['--input', externalLog(20_000), '--aggregate']);
    expect(r.code).toBe(0);
    expect(r.err).toContain('20000 external addresses folded into 16 CIDRs');
    expect(Buffer.byteLength(r.out)).toBeLessThan(8 * 1024);
  });

  it('a gzipped log is read', async () => {
    const file = path.join(tmp, 'dns.log.gz');
    writeFileSync(file, gzipSync(logText('dns')));
    const r = await run(['--input', file]);
    expect(r.code).toBe(0);
    expect(r.out).toBe((await run(['--input', log('dns')])).out);
  });

  it('control characters from the log are escaped before they reach the terminal', async () => {
    const file = path.join(tmp, 'escape.log');
    writeFileSync(
      file,
      logText('dns')
        .replace('"app":"frontend"', '"app\\u001b[31m":"frontend"')
        .replace(/\n(?=.)/, '\n{"kind":"flow","oops\\u001b]0;pwned\\u0007":1}\n'),
    );
    const r = await run(['--input', file]);
    expect(r.code).toBe(1);
    // eslint-disable-next-line no-control-regex -- no control character may reach the terminal
    expect(r.err).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });

  it('--input is required', async () => {
    const r = await run([]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('Missing required argument: input');
  });
});

describe('terminal manners', () => {
  it('printable escapes control characters and bidi overrides, keeping tabs and newlines', () => {
    expect(printable('a\x1b[31mb\tc\nd\x07\u202ee\x9b')).toBe('a\\x1b[31mb\tc\nd\\x07\\u202ee\\x9b');
  });

  it('`report | head`: EPIPE on stdout exits 0 quietly; other errors still throw', () => {
    const stream = new EventEmitter() as unknown as NodeJS.WriteStream;
    const exit = jest.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    try {
      exitQuietlyOnEpipe(stream);
      stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      expect(exit).toHaveBeenCalledWith(0);
      expect(() => stream.emit('error', Object.assign(new Error('disk full'), { code: 'ENOSPC' }))).toThrow(
        'disk full',
      );
    } finally {
      exit.mockRestore();
    }
  });
});
