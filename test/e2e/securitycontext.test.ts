// securitycontext end to end on the real node, proven by enforcement: trace a Deployment from its
// pods' start through the bundle, patch it with the advice (`-o patch`, `kubectl patch`), kubelet
// restarts it under that securityContext and it serves; a privilege the advice took away is gone;
// and Pod Security admission accepts the patched pod under `enforce: restricted` when the advice
// says restricted. Images and the agent image come from `scripts/testenv/testenv env`.

import {
  NGINX,
  NGINX_NON_ROOT,
  NGINX_EXEC_PROBE,
  admittedRestricted,
  enforce,
  exec,
  traceAndAdvise,
  secctxHooks,
} from '../support/secctx';
import { agentLog } from '../support/agent-pod';

secctxHooks();

describe('kubectl harden securitycontext, enforced by kubelet', () => {
  test('the agent located where its node saves user registers, so checks cost nothing on other syscalls', async () => {
    // The agent image's bpftrace on amd64 measures it at start (16216 here; 16200 on a FRED kernel).
    // Said once at its start, so the whole log is read.
    expect(await agentLog()).toMatch(/user registers saved at stack \+ \d+$/m);
  });

  test('nginx as root: root needed for :80, the alternative named; it serves; a dropped capability is gone', async () => {
    const { advice, patch } = await traceAndAdvise(NGINX);
    const [c] = advice.containers;
    expect(c.rootNeeded?.why).toMatch(/root/);
    expect(c.rootNeeded?.alternatives.join(' ')).toMatch(/1024/);
    expect(c.securityContext.capabilities?.drop).toEqual(['ALL']);
    const add = c.securityContext.capabilities?.add ?? [];
    expect(add).toContain('NET_BIND_SERVICE');
    expect(advice.podSecurityStandard.level).toBe('baseline');
    const pod = await enforce(NGINX, patch);
    // Root keeps only what the advice added: an action needing a capability it left out fails.
    const dir = c.emptyDirs[0] ?? '/tmp';
    const action = !add.includes('CHOWN')
      ? `touch ${dir}/probe && chown 65534 ${dir}/probe` // CAP_CHOWN
      : `touch ${dir}/probe && chmod 000 ${dir}/probe && cat ${dir}/probe`; // CAP_DAC_OVERRIDE
    expect(add.includes('CHOWN') && add.includes('DAC_OVERRIDE')).toBe(false);
    const r = await exec(pod, ['sh', '-c', action]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not permitted|Permission denied/);
  });

  test('unprivileged nginx: restricted as uid 1000; it serves; binding :80 fails; restricted admission accepts it', async () => {
    const { advice, patch } = await traceAndAdvise(NGINX_NON_ROOT);
    const [c] = advice.containers;
    expect(c.rootNeeded).toBeUndefined();
    expect(c.securityContext).toMatchObject({
      runAsUser: 1000,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
    });
    expect(c.emptyDirs).toEqual(['/tmp']);
    expect(advice.podSecurityStandard.level).toBe('restricted');
    const pod = await enforce(NGINX_NON_ROOT, patch);
    // perl-base is in every Debian image; the same bind on a high port is the control.
    const bind = (port: number) =>
      exec(pod, [
        'perl',
        '-MIO::Socket::INET',
        '-e',
        `IO::Socket::INET->new(LocalPort => ${port}, Listen => 1, ReuseAddr => 1) or die "bind: $!\\n"`,
      ]);
    expect((await bind(8081)).code).toBe(0);
    const low = await bind(80);
    expect(low.code).not.toBe(0);
    expect(low.stderr).toMatch(/bind: Permission denied/);
    expect(await admittedRestricted(NGINX_NON_ROOT)).toEqual({ code: 0, stderr: '' });
  });

  test("unprivileged nginx with an exec readiness probe: the runtime's user switch per probe is not the workload's; restricted", async () => {
    const { advice, patch, stderr } = await traceAndAdvise(NGINX_EXEC_PROBE);
    // The rollout stopped the old pod while traced: its shutdown is part of the record, and the new
    // pod's exec probes too.
    expect(stderr).not.toMatch(/not observed/);
    const [c] = advice.containers;
    expect(c.rootNeeded).toBeUndefined();
    expect(c.securityContext).toMatchObject({
      runAsUser: 1000,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(c.securityContext.capabilities?.add).toBeUndefined();
    expect(advice.podSecurityStandard.level).toBe('restricted');
    // Patched, its probe still passes (the pod gets Ready) and it serves.
    await enforce(NGINX_EXEC_PROBE, patch);
    expect(await admittedRestricted(NGINX_EXEC_PROBE)).toEqual({ code: 0, stderr: '' });
  });
});
