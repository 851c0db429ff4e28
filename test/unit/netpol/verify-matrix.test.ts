import { Readable } from 'node:stream';
import { compileDocuments } from '../../../lib/netpol/policy';
import { PolicySet } from '../../../lib/netpol/verify';
import { readConnections, verifyLog } from '../../../lib/netpol/verify-log';
import {
  deniedKeys,
  expectedVerdicts,
  generateMatrix,
  NAMESPACES,
  PODS,
  podId,
  probeKey,
  probeLog,
  probeText,
  type Addresses,
} from '../../support/netpol-matrix';

const ADDRS: Addresses = {
  pods: Object.fromEntries(PODS.map((p, i) => [podId(p), `10.244.0.${10 + i}`])),
  host: '10.244.0.1',
};

describe('the randomized policy matrix', () => {
  it('is the same for the same seed and addresses, and differs for another seed', () => {
    const a = generateMatrix(1234, 20, 50, ADDRS);
    expect(generateMatrix(1234, 20, 50, ADDRS)).toEqual(a);
    expect(JSON.stringify(generateMatrix(1235, 20, 50, ADDRS))).not.toBe(JSON.stringify(a));
    expect(a.policies).toHaveLength(20);
    expect(a.probes).toHaveLength(50);
  });

  it('draws only policies the API server accepts, in the matrix namespaces', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const m = generateMatrix(seed, 40, 0, ADDRS);
      const docs = m.policies.map((object) => ({ source: `seed ${seed}`, object }));
      expect(compileDocuments(docs, 'default').policies).toHaveLength(40);
      for (const p of m.policies) expect(NAMESPACES.map((n) => n.name)).toContain(p.metadata.namespace);
    }
  });

  it('covers what it promises: selectors, ipBlocks with except, ranges, named ports, both directions', () => {
    const text = JSON.stringify(generateMatrix(7, 200, 0, ADDRS).policies);
    for (const needle of [
      '"matchExpressions"',
      '"except"',
      '"endPort"',
      '"port":"http"',
      '"port":"dns"',
      '"egress"',
      '"ingress"',
      '"namespaceSelector"',
    ]) {
      expect(text).toContain(needle);
    }
  });

  it('its probes get verdicts both ways, so agreement with felix means something', () => {
    const m = generateMatrix(99, 12, 200, ADDRS);
    const verdicts = expectedVerdicts(m, ADDRS);
    const denied = verdicts.filter((v) => !v.allowed).length;
    expect(denied).toBeGreaterThan(20);
    expect(denied).toBeLessThan(180);
    expect(
      new Set(
        m.probes.map((p) =>
          p.to.kind === 'host' ? 'to-host' : p.from === 'host' ? 'from-host' : p.protocol,
        ),
      ),
    ).toEqual(new Set(['TCP', 'UDP', 'to-host', 'from-host']));
  });
});

describe('the matrix through the flow log', () => {
  it('verify on the probes’ log judges every probe as the evaluator does on the probe itself', async () => {
    for (const seed of [3, 11, 2024]) {
      const m = generateMatrix(seed, 25, 150, ADDRS);
      const verdicts = expectedVerdicts(m, ADDRS);
      const log = await readConnections(Readable.from([Buffer.from(probeLog(m, ADDRS))]), {
        skipInvalid: false,
      });
      const docs = m.policies.map((object) => ({ source: `seed ${seed}`, object }));
      const result = verifyLog(log, new PolicySet(compileDocuments(docs, 'default').policies));
      const denied = deniedKeys(result);
      const mismatches = m.probes.filter((p, i) => denied.has(probeKey(p)) === verdicts[i].allowed);
      expect(mismatches.map((p) => `seed ${seed}: ${probeText(p)}`)).toEqual([]);
      expect(denied.size).toBeGreaterThan(0);
    }
  });
});
