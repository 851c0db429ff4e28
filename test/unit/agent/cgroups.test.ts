import {
  CgroupLayout,
  containerCgroupDir,
  containerIdOfPath,
  detectDriver,
  parseCgroup2Mount,
  parseContainerID,
  podUIDOfPath,
  qosClassOf,
} from '../../../lib/agent/core/cgroups';
import { expectGolden, goldenJson } from '../golden';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const UNIFIED = `25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
// /proc/self/mountinfo of the agent's pod on the test node (hybrid cgroups, kubelet + containerd): the
// DaemonSet's hostPath of /sys/fs/cgroup replaces the runtime's own cgroup mounts.
const AGENT_POD = `316 309 0:28 / /sys/fs/cgroup ro,relatime - tmpfs tmpfs rw,mode=755
317 316 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
320 316 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
325 316 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
326 316 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const UID = '0a1b2c3d-0000-1111-2222-333344445555';
const ID = 'ab'.repeat(32);

describe('cgroup2 mount', () => {
  test('found in mountinfo (hybrid, unified, sub-tree, absent)', () => {
    expect(parseCgroup2Mount(HYBRID)).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(parseCgroup2Mount(AGENT_POD)).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(parseCgroup2Mount(UNIFIED)).toEqual({ mountPoint: '/sys/fs/cgroup', root: '/' });
    expect(parseCgroup2Mount('99 1 0:40 /kubelet /host\\040cg rw - cgroup2 cgroup2 rw\n')).toEqual({
      mountPoint: '/host cg',
      root: '/kubelet',
    });
    expect(parseCgroup2Mount('31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n')).toBeUndefined();
  });
});

describe('container cgroup directories', () => {
  test('every driver, QoS class and runtime', () => {
    const rows: Record<string, string | undefined> = {};
    for (const driver of ['systemd', 'cgroupfs'] as const)
      for (const qos of ['Guaranteed', 'Burstable', 'BestEffort'] as const)
        for (const rt of ['containerd', 'cri-o', 'docker'])
          rows[`${driver} ${qos} ${rt}`] = containerCgroupDir(driver, qos, UID, `${rt}://${ID}`);
    expectGolden('agent/cgroup-dirs.json', goldenJson(rows));
  });

  test('paths map back to pod UID and container id; runtime helpers map to none', () => {
    for (const driver of ['systemd', 'cgroupfs'] as const)
      for (const rt of ['containerd', 'cri-o', 'docker']) {
        const dir = containerCgroupDir(driver, 'Burstable', UID, `${rt}://${ID}`)!;
        expect(containerIdOfPath(`/${dir}`)).toBe(ID);
        expect(podUIDOfPath(`/${dir}`)).toBe(UID);
      }
    expect(
      containerIdOfPath(
        `/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-conmon-${ID}.scope`,
      ),
    ).toBeUndefined();
    expect(parseContainerID('rkt://abc')).toBeUndefined();
  });

  test('hierarchy paths honour a mount of a sub-tree', () => {
    const l = new CgroupLayout({ mountPoint: '/host/cg', root: '/nested' }, 'systemd');
    expect(l.podPrefix('BestEffort', UID)).toBe(
      `/nested/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replace(/-/g, '_')}.slice/`,
    );
    expect(l.dirOfHierarchyPath('/nested/kubepods.slice/x')).toBe('/host/cg/kubepods.slice/x');
    expect(l.dirOfHierarchyPath('/elsewhere')).toBeUndefined();
    expect(l.containerDir('Guaranteed', UID, `containerd://${ID}`)).toBe(
      `/host/cg/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`,
    );
  });

  test('driver detection', () => {
    expect(detectDriver('/m', (p) => p === '/m/kubepods.slice')).toBe('systemd');
    expect(detectDriver('/m', (p) => p === '/m/kubepods')).toBe('cgroupfs');
    expect(detectDriver('/m', () => false)).toBeUndefined();
  });
});

// Paths as cgroup_mkdir reports them on real nodes: kubelet's cgroupfs driver with containerd (taken
// from this project's test node: hybrid cgroups, cgroup2 at /sys/fs/cgroup/unified) and the systemd
// driver with containerd (SystemdCgroup = true) and CRI-O (conmon beside each container; crun puts
// the workload into a "container" child of the scope).
describe('real node layouts', () => {
  const uid = '9ec6b78e-4ec2-40f1-8114-3c8676a22265';
  const u_ = uid.replace(/-/g, '_');
  const ctr = '4c0de299a277fe73e2688e0a0d62ccb14bae1e6fe7f5a93c1635912a07922330';
  const sandbox = '1641c8d648b1271b92de112e9c3a66ef47467714b0ffa9b21aded06affef4821';
  const rows: [string, string | undefined, string | undefined][] = [
    // cgroupfs + containerd: the leaf is the bare container id; Guaranteed pods sit under kubepods.
    [`/kubepods/besteffort/pod${uid}/${ctr}`, uid, ctr],
    [`/kubepods/besteffort/pod${uid}/${sandbox}`, uid, sandbox],
    [`/kubepods/burstable/pod${uid}/${ctr}`, uid, ctr],
    [`/kubepods/pod${uid}/${ctr}`, uid, ctr],
    [`/kubepods/besteffort/pod${uid}`, uid, undefined],
    ['/kubepods/burstable', undefined, undefined],
    // systemd + containerd.
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${u_}.slice/cri-containerd-${ctr}.scope`,
      uid,
      ctr,
    ],
    [`/kubepods.slice/kubepods-pod${u_}.slice/cri-containerd-${ctr}.scope`, uid, ctr],
    // systemd + CRI-O.
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u_}.slice/crio-${ctr}.scope`,
      uid,
      ctr,
    ],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u_}.slice/crio-${ctr}.scope/container`,
      uid,
      ctr,
    ],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u_}.slice/crio-conmon-${ctr}.scope`,
      uid,
      undefined,
    ],
    ['/kubepods.slice/kubepods-burstable.slice', undefined, undefined],
    ['/system.slice/containerd.service', undefined, undefined],
  ];

  test.each(rows)('%s -> pod %s, container %s', (p, podUID, containerID) => {
    expect(podUIDOfPath(p)).toBe(podUID);
    expect(containerIdOfPath(p)).toBe(containerID);
  });

  test('the directory a running container has on the hybrid test node', () => {
    const l = new CgroupLayout(parseCgroup2Mount(AGENT_POD)!, 'cgroupfs');
    expect(l.nodePrefix()).toBe('/kubepods/');
    expect(l.podPrefix('BestEffort', uid)).toBe(`/kubepods/besteffort/pod${uid}/`);
    expect(l.containerDir('BestEffort', uid, `containerd://${ctr}`)).toBe(
      `/sys/fs/cgroup/unified/kubepods/besteffort/pod${uid}/${ctr}`,
    );
  });
});

describe('QoS class', () => {
  const c = (requests?: Record<string, string>, limits?: Record<string, string>) => ({
    resources: { requests, limits },
  });
  test('status wins, else computed from requests and limits', () => {
    expect(qosClassOf({ status: { qosClass: 'Burstable' }, spec: { containers: [c()] } })).toBe('Burstable');
    expect(qosClassOf({ spec: { containers: [c()] } })).toBe('BestEffort');
    expect(qosClassOf({ spec: { containers: [c(undefined, { cpu: '1', memory: '1Gi' })] } })).toBe(
      'Guaranteed',
    );
    expect(
      qosClassOf({
        spec: { containers: [c({ cpu: '1000m', memory: '1024Mi' }, { cpu: '1', memory: '1Gi' })] },
      }),
    ).toBe('Guaranteed');
    expect(qosClassOf({ spec: { containers: [c({ cpu: '100m' })] } })).toBe('Burstable');
    expect(qosClassOf({ spec: { containers: [c(undefined, { cpu: '1', memory: '1Gi' }), c()] } })).toBe(
      'Burstable',
    );
  });
});
