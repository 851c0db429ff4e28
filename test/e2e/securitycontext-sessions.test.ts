// securitycontext end to end on the real node, proven by enforcement: trace a Deployment from its
// pods' start through the bundle, patch it with the advice (`-o patch`, `kubectl patch`), kubelet
// restarts it under that securityContext and it serves; a privilege the advice took away is gone;
// and Pod Security admission accepts the patched pod under `enforce: restricted` when the advice
// says restricted. Images and the agent image come from `scripts/testenv/testenv env`.
import { load } from 'js-yaml';
import { harden } from '../support/cluster';
import { kubectl } from '../support/exec';
import {
  Advice,
  NS,
  REDIS,
  admittedRestricted,
  enforce,
  exec,
  fromClient,
  ok,
  podOf,
  secctxHooks,
  traceAndAdvise,
} from '../support/secctx';

secctxHooks();

describe('kubectl harden securitycontext sessions', () => {
  test('redis: root never used; non-root, read-only root fs; it serves; restricted admission accepts it', async () => {
    const { advice, patch } = await traceAndAdvise(REDIS);
    const [c] = advice.containers;
    expect(c.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(advice.podSecurityStandard.level).toBe('restricted');
    const pod = await enforce(REDIS, patch);
    // The container's root mount is read-only now (mountinfo: mount point "/", options "ro,…").
    const root = await exec(pod, [
      'sh',
      '-c',
      "grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ro[, ]' /proc/self/mountinfo",
    ]);
    expect(root.code ? root.stderr || 'no read-only root mount' : '').toBe('');
    expect(await admittedRestricted(REDIS)).toEqual({ code: 0, stderr: '' });
  });

  test('a seccomp and a securitycontext session on the same pod at once: both complete', async () => {
    const pod = await podOf(REDIS);
    const sc = (await ok(['seccomp', 'start', '-n', NS, '-p', pod.metadata.name])).trim();
    const cap = (await ok(['securitycontext', 'start', '-n', NS, '-p', pod.metadata.name])).trim();
    for (let i = 0; i < 3; i++) await fromClient(REDIS.exercise, pod.status.podIP ?? '');
    const profile = JSON.parse(await ok(['seccomp', 'stop', sc, '-n', NS])) as {
      syscalls: { names: string[] }[];
    };
    expect(profile.syscalls[0].names).toEqual(expect.arrayContaining(['read', 'write']));
    const advice = load(await ok(['sc', 'stop', cap, '-n', NS])) as Advice;
    expect(advice.containers.map((c) => c.name)).toEqual(['main']);
  });

  test('bad input: a container that does not exist; a session on a running pod names what it missed', async () => {
    const pod = await podOf(REDIS);
    const bad = await harden(['sc', 'start', '-n', NS, '-p', pod.metadata.name, '-c', 'nope']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(
      `container "nope" not found in pod "${pod.metadata.name}" in namespace "${NS}"`,
    );
    const id = (await ok(['sc', 'start', '-n', NS, '-p', pod.metadata.name])).trim();
    await fromClient(REDIS.exercise, pod.status.podIP ?? '');
    const stop = await harden(['sc', 'stop', id, '-n', NS]);
    expect(stop.code ? stop.stderr : '').toBe('');
    expect(stop.stderr).toMatch(/already running when the session started/);
    const advice = load(stop.stdout) as Advice;
    // Nothing its start-up decides is advised (the spec keeps what the earlier test patched in).
    expect(Object.keys(advice.containers[0].securityContext)).toEqual(['seccompProfile']);
    expect(advice.containers[0].notObserved.join(' ')).toMatch(/start-up/);
  });

  test('a workload deleted during the session: the advice still prints and says its pods are gone', async () => {
    const id = (await ok(['sc', 'start', '-n', NS, '-l', 'app=redis'])).trim();
    await kubectl(['-n', NS, 'rollout', 'restart', 'deployment/redis']);
    const pod = await podOf(REDIS);
    await fromClient(REDIS.exercise, pod.status.podIP ?? '');
    await kubectl(['-n', NS, 'delete', 'deployment', 'redis', '--wait=true']);
    const stop = await harden(['sc', 'stop', id, '-n', NS, '--keep']);
    expect(stop.code ? stop.stderr : '').toBe('');
    expect(stop.stderr).toMatch(/no pod of redis is left/);
    const patch = await harden(['sc', 'show', id, '-n', NS, '-o', 'patch']);
    expect(patch.code).not.toBe(0);
    expect(patch.stderr).toMatch(/the owner of redis is unknown/);
    expect(patch.stdout).toBe('');
    await kubectl(['-n', NS, 'delete', 'tracesession', id]);
  });
});
