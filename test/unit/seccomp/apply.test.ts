// seccomp apply's pure half: which nodes a pod template may land on, which of them lack the
// profile, and the patch (with the change it makes, said before it is made).
import {
  DIGEST_ANNOTATION,
  nodesLacking,
  parseWorkloadRef,
  schedulableNodes,
  seccompPatch,
  type NodeInfo,
  type PodSpec,
} from '../../../lib/seccomp/apply';
import type { SeccompProfileInstall } from '../../../lib/seccomp/install';

const node = (
  name: string,
  labels: Record<string, string> = {},
  taints: NodeInfo['spec'] = {},
): NodeInfo => ({
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...labels } },
  spec: taints,
});
const NODES = [
  node('a', { disk: 'ssd' }),
  node('b', { disk: 'hdd' }),
  node('cp', {}, { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }),
  node('gpu', { gpu: '2' }, { taints: [{ key: 'gpu', value: 'yes', effect: 'NoExecute' }] }),
];
const pod = (over: Partial<PodSpec> = {}): PodSpec => ({ containers: [{ name: 'nginx' }], ...over });

describe('parseWorkloadRef', () => {
  test.each([
    ['deployment/nginx', 'Deployment'],
    ['deploy/nginx', 'Deployment'],
    ['deployment.apps/nginx', 'Deployment'],
    ['sts/db', 'StatefulSet'],
    ['ds/agent', 'DaemonSet'],
  ])('%s', (ref, kind) => expect(parseWorkloadRef(ref).kind).toBe(kind));
  test.each(['nginx', 'pod/nginx', 'deployment/', 'deployment/a/b'])('%s is refused', (ref) =>
    expect(() => parseWorkloadRef(ref)).toThrow('is not KIND/NAME of a workload'),
  );
});

describe('schedulableNodes', () => {
  test('taints repel unless tolerated', () => {
    expect(schedulableNodes(pod(), NODES)).toEqual(['a', 'b']);
    expect(schedulableNodes(pod({ tolerations: [{ operator: 'Exists' }] }), NODES)).toEqual([
      'a',
      'b',
      'cp',
      'gpu',
    ]);
    expect(schedulableNodes(pod({ tolerations: [{ key: 'gpu', value: 'yes' }] }), NODES)).toEqual([
      'a',
      'b',
      'gpu',
    ]);
    expect(schedulableNodes(pod({ tolerations: [{ key: 'gpu', value: 'no' }] }), NODES)).toEqual(['a', 'b']);
  });
  test('nodeSelector, required affinity and nodeName narrow it', () => {
    expect(schedulableNodes(pod({ nodeSelector: { disk: 'ssd' } }), NODES)).toEqual(['a']);
    const affinity = (op: string, values?: string[]) => ({
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: op, values }] }],
        },
      },
    });
    expect(schedulableNodes(pod({ affinity: affinity('In', ['hdd', 'nvme']) }), NODES)).toEqual(['b']);
    expect(schedulableNodes(pod({ affinity: affinity('NotIn', ['hdd']) }), NODES)).toEqual(['a']);
    expect(schedulableNodes(pod({ affinity: affinity('Exists') }), NODES)).toEqual(['a', 'b']);
    expect(schedulableNodes(pod({ nodeName: 'b' }), NODES)).toEqual(['b']);
  });
});

test('nodesLacking names each node and why', () => {
  const install = {
    spec: { digest: 'sha256:new' },
    status: {
      nodes: [
        { node: 'a', state: 'Installed', digest: 'sha256:new' },
        { node: 'b', state: 'Installed', digest: 'sha256:old' },
        { node: 'c', state: 'Failed', message: 'refused: architectures lack SCMP_ARCH_AARCH64' },
      ],
    },
  } as unknown as SeccompProfileInstall;
  expect(nodesLacking(install, ['a', 'b', 'c', 'd'])).toEqual([
    'b (holds an older version)',
    'c (refused: architectures lack SCMP_ARCH_AARCH64)',
    'd (no agent reported it)',
  ]);
});

describe('seccompPatch', () => {
  const P = 'harden/web/nginx.json';
  const D = 'sha256:1111';
  const LOCAL = { type: 'Localhost', localhostProfile: P };
  const tpl = (spec: PodSpec, digest?: string) => ({
    metadata: digest ? { annotations: { [DIGEST_ANNOTATION]: digest } } : {},
    spec,
  });
  const profile = { localhostProfile: P, digest: D };

  test('pod level: a strategic merge patch of the template, the change said before', () => {
    const r = seccompPatch(
      'Deployment',
      tpl(pod({ securityContext: { seccompProfile: { type: 'RuntimeDefault' } } })),
      profile,
    );
    expect(r.patch).toEqual({
      spec: {
        template: {
          metadata: { annotations: { [DIGEST_ANNOTATION]: D } },
          spec: { securityContext: { seccompProfile: LOCAL } },
        },
      },
    });
    expect(r.changes).toEqual([
      `deployment: securityContext.seccompProfile (pod): RuntimeDefault → Localhost ${P}`,
      `deployment: template annotation ${DIGEST_ANNOTATION}: <none> → ${D}`,
    ]);
  });

  test('one container: merged by name, other containers untouched', () => {
    const r = seccompPatch(
      'StatefulSet',
      tpl(pod({ containers: [{ name: 'nginx' }, { name: 'sidecar' }] })),
      profile,
      'nginx',
    );
    expect(r.patch).toEqual({
      spec: {
        template: {
          metadata: { annotations: { [DIGEST_ANNOTATION]: D } },
          spec: { containers: [{ name: 'nginx', securityContext: { seccompProfile: LOCAL } }] },
        },
      },
    });
    expect(r.changes[0]).toBe(
      `statefulset: containers[nginx].securityContext.seccompProfile: <none> → Localhost ${P}`,
    );
  });

  test('a container it lacks is named with those it has', () =>
    expect(() => seccompPatch('Deployment', tpl(pod()), profile, 'web')).toThrow(
      'container "web" is not in the pod template (it has nginx)',
    ));

  test("a container's own seccompProfile would win over the pod's: said", () => {
    const r = seccompPatch(
      'Deployment',
      tpl(
        pod({ containers: [{ name: 'nginx', securityContext: { seccompProfile: { type: 'Unconfined' } } }] }),
      ),
      profile,
    );
    expect(r.warnings[0]).toContain('container nginx sets its own seccompProfile (Unconfined)');
  });

  test('pod level with several containers, init containers included: each that inherits it is named', () => {
    const r = seccompPatch(
      'Deployment',
      tpl(
        pod({
          containers: [
            { name: 'nginx' },
            { name: 'own', securityContext: { seccompProfile: { type: 'RuntimeDefault' } } },
          ],
          initContainers: [{ name: 'migrate' }],
        }),
      ),
      profile,
    );
    expect(r.warnings).toContain(
      'warning: the pod-level profile applies to every container without its own: nginx, migrate; ' +
        'a profile recorded from one of them denies what the others do: apply each its own profile with -c NAME',
    );
  });

  test('pod level with one container: no such warning', () =>
    expect(seccompPatch('Deployment', tpl(pod()), profile).warnings).toEqual([]));

  test('already in force with this digest: no patch', () => {
    const r = seccompPatch(
      'Deployment',
      tpl(pod({ securityContext: { seccompProfile: LOCAL } }), D),
      profile,
    );
    expect(r.patch).toBeUndefined();
  });

  test('reinstalled (audit variant → enforcing): only the annotation changes, so the pods roll and load it', () => {
    const r = seccompPatch(
      'Deployment',
      tpl(pod({ securityContext: { seccompProfile: LOCAL } }), 'sha256:0000'),
      profile,
    );
    expect(r.patch).toEqual({
      spec: { template: { metadata: { annotations: { [DIGEST_ANNOTATION]: D } } } },
    });
    expect(r.changes.at(-1)).toContain(
      'sha256:0000 → sha256:1111 (the profile was reinstalled: new pods load it)',
    );
  });
});
