// The testenv itself: real pods (runc, own netns, kubelet cgroup layout) that talk over the pod network
// and are visible through the API exactly as kubelet would report them; nothing left behind after.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NODE_IP } from '../support/cluster';
import { kubectl, kubectlJson } from '../support/exec';
import {
  cleanupAll,
  deletePod,
  execInPod,
  leftovers,
  podSlice,
  processGone,
  restartContainer,
  runPod,
  startContainer,
  unifiedDir,
  unifiedRoot,
  v1Roots,
  type Pod,
} from '../support/pods';
import { eventually } from '../support/eventually';

const NS = 'smoke';

interface PodObject {
  metadata: { uid: string };
  spec: { nodeName: string };
  status: {
    phase: string;
    podIP: string;
    hostIP: string;
    qosClass: string;
    conditions: { type: string; status: string }[];
    containerStatuses: { name: string; containerID?: string; ready: boolean; restartCount: number }[];
  };
}

const getPod = (name: string): Promise<PodObject> => kubectlJson<PodObject>(['get', 'pod', name, '-n', NS]);

function expectInCgroup(pod: Pod): void {
  for (const c of pod.containers) {
    const dir = unifiedDir(c);
    expect(fs.existsSync(dir)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(c.pid));
    expect(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8')).toContain(`0::${c.cgroupPath}\n`);
  }
}

describe('testenv smoke', () => {
  const pods: Pod[] = [];

  afterAll(async () => {
    await cleanupAll();
    await kubectl(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
  });

  it('runs two pods that talk over TCP on their pod IPs', async () => {
    const server = await runPod({
      namespace: NS,
      name: 'web',
      labels: { app: 'web' },
      containers: [
        {
          name: 'httpd',
          args: ['sh', '-c', 'echo smoke-ok > /www/index.html && exec httpd -f -p 80 -h /www'],
        },
      ],
    });
    pods.push(server);
    const client = await runPod({
      namespace: NS,
      name: 'client',
      labels: { app: 'client' },
      qos: 'guaranteed',
      containers: [{ name: 'main', args: ['sleep', '3600'] }],
    });
    pods.push(client);
    expect(server.ip).toMatch(/^10\.244\.0\.\d+$/);
    expect(client.ip).not.toBe(server.ip);

    // httpd may need a moment to bind. (busybox 1.35's `wget -T` segfaults; `timeout` bounds it instead.)
    const get = () =>
      execInPod(client, 'main', ['timeout', '5', 'wget', '-q', '-O', '-', `http://${server.ip}/`]);
    const r = await eventually(get, (x) => x.stdout === 'smoke-ok\n', { withinMs: 10_000, everyMs: 100 });
    expect(r).toMatchObject({ code: 0, stdout: 'smoke-ok\n' });

    // The client really is in its own netns with the address the API reports.
    const addr = await execInPod(client, 'main', ['ip', '-4', 'addr', 'show', 'eth0']);
    expect(addr.stdout).toContain(`${client.ip}/32`);
  });

  it('shows the pods through the API as kubelet would', async () => {
    for (const pod of pods) {
      const obj = await getPod(pod.name);
      expect(obj.metadata.uid).toBe(pod.uid);
      expect(obj.spec.nodeName).toBe('harden-node');
      expect(obj.status.phase).toBe('Running');
      expect(obj.status.podIP).toBe(pod.ip);
      expect(obj.status.hostIP).toBe(NODE_IP);
      expect(obj.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(obj.status.containerStatuses.map((c) => c.containerID)).toEqual(
        pod.containers.map((c) => `containerd://${c.id}`),
      );
    }
    expect((await getPod('client')).status.qosClass).toBe('Guaranteed');
    expect((await getPod('web')).status.qosClass).toBe('BestEffort');
  });

  it('places each container in the kubelet systemd cgroup layout, in cgroup v2', () => {
    const [server, client] = pods;
    const id = server.containers[0].id;
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const u = server.uid.replace(/-/g, '_');
    expect(server.containers[0].cgroupPath).toBe(
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${u}.slice/cri-containerd-${id}.scope`,
    );
    expect(client.containers[0].cgroupPath).toMatch(
      /^\/kubepods\.slice\/kubepods-pod[0-9a-f_]+\.slice\/cri-containerd-/,
    );
    expectInCgroup(server);
    expectInCgroup(client);
  });

  it('starts containers late and restarts them with a new id under the same pod slice', async () => {
    const pod = await runPod({
      namespace: NS,
      name: 'late',
      qos: 'burstable',
      start: false,
      containers: [{ name: 'main', args: ['sleep', '3600'] }],
    });
    pods.push(pod);
    let obj = await getPod('late');
    expect(obj.status.phase).toBe('Pending');
    expect(obj.status.containerStatuses[0].containerID).toBeUndefined();
    expect(fs.existsSync(path.join(unifiedRoot(), podSlice(pod.uid, 'burstable')))).toBe(true);

    const first = await startContainer(pod, 'main');
    expectInCgroup(pod);
    const second = await restartContainer(pod, 'main');
    expect(second.id).not.toBe(first.id);
    expect(second.cgroupPath.startsWith(podSlice(pod.uid, 'burstable') + '/')).toBe(true);
    expect(fs.existsSync(path.join(unifiedRoot(), first.cgroupPath))).toBe(false);
    expectInCgroup(pod);
    obj = await getPod('late');
    expect(obj.status.phase).toBe('Running');
    expect(obj.status.containerStatuses[0]).toMatchObject({
      containerID: `containerd://${second.id}`,
      restartCount: 1,
      ready: true,
    });
  });

  it('leaves nothing behind after deletePod and cleanupAll', async () => {
    const slices = pods.map((p) => path.join(unifiedRoot(), podSlice(p.uid, p.qos)));
    const pids = pods.flatMap((p) => p.containers.map((c) => c.pid));
    await deletePod(pods[0]);
    expect(fs.existsSync(slices[0])).toBe(false);
    await cleanupAll();
    for (const s of slices) expect(fs.existsSync(s)).toBe(false);
    for (const pid of pids) expect(processGone(pid)).toBe(true);
    for (const root of v1Roots()) {
      for (const p of pods) expect(fs.existsSync(path.join(root, podSlice(p.uid, p.qos)))).toBe(false);
    }
    expect(await leftovers()).toEqual({ containers: [], netns: [], veths: [] });
    const remaining = await kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', NS]);
    expect(remaining.items).toEqual([]);
  });
});
