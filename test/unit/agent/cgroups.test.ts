import {
  CgroupLayout,
  containerCgroupDir,
  containerIdOfPath,
  detectDriver,
  parseCgroup2Mount,
  parseContainerID,
  podUIDOfPath,
  qosClassOf,
} from '../../../lib/agent/cgroups';
import { expectGolden, goldenJson } from '../golden';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const UNIFIED = `25 30 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;
const UID = '0a1b2c3d-0000-1111-2222-333344445555';
const ID = 'ab'.repeat(32);

describe('cgroup2 mount', () => {
  test('found in mountinfo (hybrid, unified, sub-tree, absent)', () => {
    expect(parseCgroup2Mount(HYBRID)).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
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
