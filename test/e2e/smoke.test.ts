// The test node itself: kubelet pods from the local registry that talk over Calico's pod network and
// through CoreDNS, reported by kubelet through the API, in the cgroupfs driver's layout that the agent
// relies on (kubepods[/<qos>]/pod<uid>/<container id> in cgroup v2); nothing left after deletion.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupPids, containerCgroupDir } from '../support/agent-pod';
import { NODE_IP } from '../support/cluster';
import { eventually } from '../support/eventually';
import { httpStatus } from '../support/http';
import {
  containerIdOf,
  deleteNamespace,
  deleteObjects,
  execInKubePod,
  getPod,
  kubePodLogs,
  runDeployment,
  runKubePod,
  testImage,
  type KubePod,
} from '../support/kube-pods';

const NS = 'smoke';
const UNIFIED = '/sys/fs/cgroup/unified';
let web: KubePod;
let client: KubePod;

/** Every cgroup v1 hierarchy root (the node's cgroups are hybrid). */
function v1Roots(): string[] {
  return fs
    .readdirSync('/sys/fs/cgroup')
    .map((d) => path.join('/sys/fs/cgroup', d))
    .filter((d) => d !== UNIFIED && fs.existsSync(path.join(d, 'kubepods')));
}

beforeAll(async () => {
  [web] = await runDeployment({ namespace: NS, name: 'web', image: testImage('nginx'), port: 80 });
  client = await runKubePod({
    namespace: NS,
    name: 'client',
    image: testImage('curl'),
    resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '50m', memory: '32Mi' } },
  });
}, 300_000);

afterAll(async () => {
  await deleteNamespace(NS).catch(() => undefined);
}, 180_000);

test('two pods talk over the pod network, by Service name through CoreDNS, without NAT between them', async () => {
  const get = (url: string) => httpStatus(NS, 'client', url);
  const byName = await eventually(
    () => get('http://web/'),
    (r) => r === '200',
    { withinMs: 20_000 },
  );
  expect(byName).toBe('200');
  expect(await get(`http://${web.status.podIP}/`)).toBe('200');
  // nginx logs the peer address: the client's own pod IP.
  const log = await eventually(
    () => kubePodLogs(NS, web.metadata.name),
    (l) => l.includes(`${client.status.podIP} - -`),
    { withinMs: 10_000 },
  );
  expect(log).toContain(`${client.status.podIP} - -`);
});

test('kubelet reports the pods through the API', async () => {
  for (const name of [web.metadata.name, 'client']) {
    const p = await getPod(NS, name);
    expect(p.spec.nodeName).toBe('harden-node');
    expect(p.status.phase).toBe('Running');
    expect((p.status as { hostIP?: string }).hostIP).toBe(NODE_IP);
    expect(p.status.podIP).toMatch(/^10\.244\.\d+\.\d+$/);
    expect(p.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(p.status.containerStatuses?.[0].containerID).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);
  }
  expect(web.status.podIP).not.toBe(client.status.podIP);
  expect((await getPod(NS, 'client')).status.qosClass).toBe('Guaranteed');
  expect(web.status.qosClass).toBe('BestEffort');
});

test("each container's processes are in its cgroup v2 directory in the cgroupfs driver's layout", async () => {
  for (const [pod, qos] of [
    [web, 'besteffort/'],
    [client, ''],
  ] as const) {
    const id = containerIdOf(pod);
    const dir = containerCgroupDir(pod);
    expect(dir).toBe(`${UNIFIED}/kubepods/${qos}pod${pod.metadata.uid}/${id}`);
    const pids = cgroupPids(dir);
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids)
      expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`0::${dir.slice(UNIFIED.length)}\n`);
  }
});

test('a container kubelet restarts gets a new id under the same pod directory, and the old one goes', async () => {
  const pod = await runKubePod({
    namespace: NS,
    name: 'restarts',
    image: testImage('curl'),
    command: ['sh', '-c', 'while [ ! -e /tmp/exit ]; do sleep 0.2; done'],
  });
  const firstDir = containerCgroupDir(pod);
  expect((await execInKubePod(NS, 'restarts', ['touch', '/tmp/exit'])).code).toBe(0);
  const again = await eventually(
    () => getPod(NS, 'restarts'),
    (p) => {
      const c = p.status.containerStatuses?.[0];
      return (
        !!c &&
        c.restartCount >= 1 &&
        c.ready &&
        c.containerID !== pod.status.containerStatuses?.[0].containerID
      );
    },
    { what: 'the container restarted', withinMs: 60_000, everyMs: 500 },
  );
  const secondDir = containerCgroupDir(again);
  expect(path.dirname(secondDir)).toBe(path.dirname(firstDir));
  expect(secondDir).not.toBe(firstDir);
  expect(fs.existsSync(secondDir)).toBe(true);
  expect(fs.existsSync(firstDir)).toBe(false);
});

test('deleted pods leave no cgroup behind, in cgroup v2 or any v1 hierarchy', async () => {
  const pods = [web, client, await getPod(NS, 'restarts')];
  const podDirs = pods.map((p) => path.dirname(containerCgroupDir(p)).slice(UNIFIED.length));
  await deleteObjects(NS, ['deployment/web', 'pod/client', 'pod/restarts']);
  await deleteObjects(NS, [`pod/${web.metadata.name}`]);
  const roots = [UNIFIED, ...v1Roots()];
  expect(roots.length).toBeGreaterThan(1);
  const left = await eventually(
    async () => roots.flatMap((r) => podDirs.map((d) => r + d)).filter((d) => fs.existsSync(d)),
    (l) => l.length === 0,
    { withinMs: 30_000 },
  );
  expect(left).toEqual([]);
});
