// apply's gates, through the real parser against the in-memory API server: --audit puts the
// NetworkPolicies in force only if the recording's own connections pass them, and a directory
// apply cannot put wholly in force is refused before any workload changes.
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiError } from '../../../lib/kube/client';
import { R, resourcePath } from '../../../lib/kube/paths';
import { clusterWithAgent, FakeInterrupts, runCli } from '../fake-cluster';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

/** A policy for app `app`: no ingress at all, or ingress on port 80 from anywhere. */
const policy = (app: string, opts: { open?: boolean; cilium?: boolean } = {}) =>
  [
    `apiVersion: ${opts.cilium ? 'cilium.io/v2' : 'networking.k8s.io/v1'}`,
    `kind: ${opts.cilium ? 'CiliumNetworkPolicy' : 'NetworkPolicy'}`,
    'metadata:',
    `  name: ${app}-harden`,
    '  namespace: web',
    'spec:',
    '  podSelector:',
    '    matchLabels:',
    `      app: ${app}`,
    '  policyTypes: [Ingress, Egress]',
    opts.open ? '  ingress:\n    - ports:\n        - protocol: TCP\n          port: 80' : '  ingress: []',
    '  egress: []',
    '',
  ].join('\n');

/** What record wrote: one recorded ingress connection to a-1:80, and one policy file per workload. */
function recordDir(apps: string[], opts: { open?: boolean; cilium?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'harden-apply-'));
  const files: Record<string, string> = {};
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    files[name] = sha(text);
  };
  const header = { kind: 'header', format: 'kubectl-harden/flow-log', version: 2, cluster: 'fake-cluster' };
  const flow = {
    kind: 'flow',
    target: { namespace: 'web', name: 'a-1', labels: { app: 'a' }, owner: { kind: 'Deployment', name: 'a' } },
    direction: 'ingress',
    proto: 'TCP',
    localIP: '10.0.0.1',
    localPort: 80,
    remoteIP: '1.2.3.4',
    remotePort: 5555,
    peer: { kind: 'external', ip: '1.2.3.4', family: 4 },
    count: 1,
    firstSeen: '2025-03-01T10:00:01Z',
    lastSeen: '2025-03-01T10:00:01Z',
  };
  const log = [{ ...header, context: 'fake', startTime: '2025-03-01T10:00:00Z', dns: null }, flow];
  write('record-r1.flows.log', log.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const workloads = apps.map((app) => {
    const file = `deployment-${app}.netpol.yaml`;
    write(file, policy(app, opts));
    const row = { workload: `deployment/${app}`, kind: 'Deployment', name: app, startupRecorded: true };
    return { ...row, syscalls: 0, peers: 1, pss: 'restricted', gaps: 0, files: [file] };
  });
  const manifest = {
    apiVersion: 'harden.dev/v1alpha1',
    kind: 'Recording',
    namespace: 'web',
    context: 'fake',
    cluster: 'fake-cluster',
    selector: '--all',
    netpolFormat: opts.cilium ? 'cilium' : 'kubernetes',
    recordings: [],
    workloads,
    files,
  };
  writeFileSync(join(dir, 'record.json'), JSON.stringify(manifest));
  return dir;
}

function withDeployments(apps: string[]) {
  const c = clusterWithAgent();
  for (const app of apps)
    c.put(R.deployments, {
      metadata: { name: app, namespace: 'web', generation: 1 },
      spec: {
        replicas: 1,
        template: { metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      },
      status: { observedGeneration: 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1 },
    } as never);
  return c;
}

const policyObject = (app: string) =>
  resourcePath(R.networkpolicies, { namespace: 'web', name: `${app}-harden` });
const template = (c: ReturnType<typeof clusterWithAgent>, app: string) =>
  JSON.stringify(c.objects.get(resourcePath(R.deployments, { namespace: 'web', name: app })));

describe('kubectl harden apply', () => {
  test('--audit: a policy that would deny a recorded connection is not put in force', async () => {
    const c = withDeployments(['a']);
    const r = await runCli(['apply', '-f', recordDir(['a']), '-n', 'web', '--audit'], c);
    expect(r.err).toContain("the NetworkPolicies would deny 1 of the recording's 1 connections");
    expect(r.err).not.toContain('all pass');
    expect(c.objects.has(policyObject('a'))).toBe(false);
  });

  test('--audit: policies the recorded connections all pass are put in force', async () => {
    const c = withDeployments(['a']);
    const r = await runCli(['apply', '-f', recordDir(['a'], { open: true }), '-n', 'web', '--audit'], c);
    expect(r.code).toBe(0);
    expect(r.err).toContain("the recording's 1 connections all pass the NetworkPolicies");
    expect(c.objects.has(policyObject('a'))).toBe(true);
  });

  test('a recording in the Cilium format is refused before any workload changes, dry run or not', async () => {
    const c = withDeployments(['a', 'b']);
    const before = template(c, 'a');
    for (const dry of [['--dry-run=client'], []]) {
      const r = await runCli(
        ['apply', '-f', recordDir(['a', 'b'], { cilium: true }), '-n', 'web', ...dry],
        c,
      );
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        'holds a CiliumNetworkPolicy; apply puts only NetworkPolicies in force, so nothing was applied',
      );
      expect(r.err).toContain('--netpol-format cilium');
    }
    expect(template(c, 'a')).toBe(before);
  });

  test('Ctrl-C while one workload rolls out: the next is named as not applied, not as interrupted', async () => {
    const c = withDeployments(['a', 'b']);
    const interrupts = new FakeInterrupts();
    c.hook = (method, path) => {
      if (method === 'PATCH' && path.endsWith('/deployments/a')) interrupts.ctrlC();
    };
    const r = await runCli(
      ['apply', '-f', recordDir(['a', 'b'], { open: true }), '-n', 'web'],
      c,
      interrupts,
    );
    expect(r.code).toBe(130);
    expect(r.err).toContain('interrupted; applied: deployment/a; not applied: deployment/b');
    expect(r.err).not.toContain('while hardening deployment/b');
  });

  test("a policy refused after a workload's template was patched: the workload is named half hardened", async () => {
    const c = withDeployments(['a', 'b']);
    c.hook = (method, path) => {
      if (method === 'PATCH' && path.endsWith('/networkpolicies/b-harden'))
        throw new ApiError('networkpolicies "b-harden" is forbidden', 403, { code: 403 } as never);
    };
    const r = await runCli(['apply', '-f', recordDir(['a', 'b'], { open: true }), '-n', 'web'], c);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /deployment\/b is half hardened: its template was patched .* but its NetworkPolicy b-harden was not applied: networkpolicies "b-harden" is forbidden; applied before it: deployment\/a/,
    );
    expect(r.err).toContain('run the same apply again to finish it');
  });
});
