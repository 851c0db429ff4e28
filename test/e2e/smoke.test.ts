// The testenv itself is a real node: kubelet runs pods from the local registry's images under
// containerd, Calico's CNI plugin gives them addresses, kube-proxy and CoreDNS make Services reachable
// by name, and the containers' cgroups are where the agent's resolver says they are.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CgroupLayout,
  containerCgroupDir,
  detectDriver,
  findCgroup2Mount,
  qosClassOf,
} from '../../lib/agent/cgroups';
import { NODE_IP, NODE_NAME } from '../support/cluster';
import { kubectlJson, run } from '../support/exec';
import {
  containerIdOf,
  curlFrom,
  deleteNamespace,
  execInKubePod,
  getPod,
  kubePodLogs,
  runDeployment,
  runKubePod,
  testImage,
  type KubePod,
} from '../support/kube-pods';

const NS = 'smoke';

interface NodeObject {
  status: {
    conditions: { type: string; status: string }[];
    addresses: { type: string; address: string }[];
    nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
  };
}

describe('testenv node', () => {
  let web: KubePod;
  let client: KubePod;

  beforeAll(async () => {
    [web] = await runDeployment({
      namespace: NS,
      name: 'web',
      image: testImage('nginxUnprivileged'),
      port: 8080,
      resources: { requests: { cpu: '10m' } }, // Burstable: its cgroup is under kubepods/burstable
    });
    client = await runKubePod({ namespace: NS, name: 'client', image: testImage('curl') });
  }, 300_000);

  afterAll(async () => {
    await deleteNamespace(NS);
  }, 180_000);

  it('has a Ready node reached by its InternalIP, run by kubelet and containerd', async () => {
    const node = await kubectlJson<NodeObject>(['get', 'node', NODE_NAME]);
    expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: NODE_IP });
    expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\/2\./);
    expect(node.status.nodeInfo.kubeletVersion).toMatch(/^v1\./);
  });

  it('gives pods Calico addresses from the pool, routed through their cali* veth', async () => {
    for (const p of [web, client]) {
      const ip = p.status.podIP ?? '';
      expect(ip).toMatch(/^10\.244\./);
      const route = await run('ip', ['route', 'get', ip]);
      expect(route).toMatch(/ dev cali[0-9a-f]{11} /);
    }
  });

  it('resolves a Service by name through CoreDNS and reaches it through kube-proxy', async () => {
    expect(await curlFrom(NS, client.metadata.name, 'http://web', 2)).toEqual({ status: '200', stderr: '' });
    // kubectl logs goes through kubelet at the node's InternalIP: the request is in nginx's access log.
    expect(await kubePodLogs(NS, web.metadata.name)).toMatch(/"GET \/ HTTP\/1\.1" 200/);
  });

  it("puts each container in the cgroup the agent's resolver computes (cgroupfs driver, containerd)", async () => {
    const pod = await getPod(NS, web.metadata.name);
    const id = containerIdOf(pod);
    const rel = containerCgroupDir('cgroupfs', qosClassOf(pod), pod.metadata.uid, `containerd://${id}`);
    expect(rel).toBe(`kubepods/burstable/pod${pod.metadata.uid}/${id}`);
    // A process in the container sees exactly that cgroup v2 path.
    const own = await execInKubePod(NS, pod.metadata.name, ['cat', '/proc/self/cgroup']);
    expect(own.stdout.split('\n')).toContain(`0::/${rel}`);
    // And the agent's view of the node finds the directory, with the container's processes in it.
    const mount = findCgroup2Mount();
    const driver = detectDriver(mount.mountPoint);
    expect(driver).toBe('cgroupfs');
    const dir = new CgroupLayout(mount, driver!).containerDir(
      'Burstable',
      pod.metadata.uid,
      `containerd://${id}`,
    );
    expect(dir).toBe(path.join(mount.mountPoint, rel!));
    expect(fs.readFileSync(path.join(dir!, 'cgroup.procs'), 'utf8').trim()).not.toBe('');
  });
});
