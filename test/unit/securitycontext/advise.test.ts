import {
  adviseSession,
  adviseWorkload,
  emptyDirName,
  rootfsWrites,
} from '../../../lib/securitycontext/advise';
import { judgeCheck } from '../../../lib/securitycontext/capabilities';
import { strategicPatch } from '../../../lib/securitycontext/patch';
import { evaluatePss } from '../../../lib/securitycontext/pss';
import { expectGolden, goldenJson } from '../golden';
import * as f from './fixtures';

const advise = (
  workload: string,
  records: typeof f.redisReplicas,
  podSpec?: typeof f.redisSpec,
  profile?: string,
) => adviseWorkload({ namespace: 'web', workload, records, podSpec }, { seccompProfile: profile });

/** The fields only a container's observed start-up can decide are not advised. */
function expectNoStartUpAdvice(a: ReturnType<typeof advise>): void {
  const sc = a.containers[0].securityContext;
  for (const field of [
    'runAsUser',
    'runAsNonRoot',
    'capabilities',
    'allowPrivilegeEscalation',
    'readOnlyRootFilesystem',
  ]) {
    expect(sc).not.toHaveProperty(field);
  }
}

describe('securityContext advice', () => {
  test('nginx as root: root is needed for :80 and the switch to www-data; the alternatives are named', () => {
    const a = advise('web', [f.nginxRoot], f.nginxRootSpec);
    expectGolden('securitycontext/nginx-root.advice.json', goldenJson(a));
    const [c] = a.containers;
    expect(c.securityContext.runAsNonRoot).toBeUndefined();
    expect(c.securityContext.capabilities).toEqual({
      drop: ['ALL'],
      add: ['NET_BIND_SERVICE', 'SETGID', 'SETUID'],
    });
    expect(c.rootNeeded?.alternatives.join(' ')).toMatch(/port ≥ 1024/);
    expect(c.emptyDirs).toEqual(['/run', '/var/log/nginx']);
    expect(a.pss.level).toBe('baseline');
  });

  test('nginx as root on a runtime that lowers the port sysctl: NET_BIND_SERVICE is kept, the sysctl named to drop it', () => {
    const a = advise('web', [f.nginxRootPortStart0], f.nginxRootSpec);
    expectGolden('securitycontext/nginx-root-port-start-0.advice.json', goldenJson(a));
    const [c] = a.containers;
    // The same advice as where the kernel checked the capability: it holds on any runtime.
    expect(c.securityContext.capabilities).toEqual({
      drop: ['ALL'],
      add: ['NET_BIND_SERVICE', 'SETGID', 'SETUID'],
    });
    expect(c.notes.join(' ')).toContain(
      'to drop it, set the pod sysctl net.ipv4.ip_unprivileged_port_start=80 (a safe sysctl)',
    );
    expect(c.reliedOn).toEqual([
      "net.ipv4.ip_unprivileged_port_start=0 in the pod's network namespace (read from the kernel by the agent; " +
        'set by the runtime, not the pod spec: containerd 2 sets 0, others leave the kernel’s 1024)',
      'the container runtime: containerd (from the container IDs): what it sets up for a container ' +
        '(its default sysctls, its init before the entrypoint) shaped what was recorded',
    ]);
  });

  test('the same bind where the pod spec sets the sysctl: portable without the capability', () => {
    const spec = {
      ...f.nginxRootSpec,
      securityContext: { sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] },
    };
    const [c] = advise('web', [f.nginxRootPortStart0], spec).containers;
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['SETGID', 'SETUID'] });
    expect(c.reliedOn[0]).toContain('the pod spec sets 0');
  });

  test('a non-root bind below 1024 needs the pod sysctl on other runtimes: the patch sets it, keeping the others', () => {
    const a = advise('low', [f.userBinds80], f.userBinds80Spec);
    expect(a.podSysctls).toEqual([
      { name: 'kernel.shm_rmid_forced', value: '1' },
      { name: 'net.ipv4.ip_unprivileged_port_start', value: '80' },
    ]);
    expect(a.containers[0].securityContext).toMatchObject({
      runAsUser: 1000,
      capabilities: { drop: ['ALL'] },
    });
    expect(a.containers[0].evidence.sysctls).toMatch(/bound port 80 as a non-root user/);
    expect(a.pss.level).toBe('restricted');
    expect(strategicPatch('Deployment', a)).toMatchObject({
      spec: { template: { spec: { securityContext: { sysctls: a.podSysctls } } } },
    });
  });

  test('the patch for its Deployment adds the emptyDirs and sets only the advised fields', () => {
    const a = advise('web', [f.nginxRoot], f.nginxRootSpec);
    expectGolden('securitycontext/nginx-root.patch.json', goldenJson(strategicPatch('Deployment', a)));
  });

  test('an init container is advised from its own records and patched under initContainers, not added as a container', () => {
    const migrate = { ...f.nginxUnprivileged, pod: f.nginxRoot.pod, workload: 'web', container: 'migrate' };
    const spec = { ...f.nginxRootSpec, initContainers: [{ name: 'migrate', image: 'migrate:1' }] };
    const a = advise('web', [f.nginxRoot, migrate], spec);
    expect(a.containers.map((c) => [c.name, c.init ?? false])).toEqual([
      ['migrate', true],
      ['nginx', false],
    ]);
    expect(a.containers[0].securityContext).toMatchObject({ runAsUser: 1000, runAsNonRoot: true });
    const pod = (
      strategicPatch('Deployment', a) as { spec: { template: { spec: Record<string, { name: string }[]> } } }
    ).spec.template.spec;
    expect(pod.initContainers.map((c) => c.name)).toEqual(['migrate']);
    expect(pod.containers.map((c) => c.name)).toEqual(['nginx']);
    // Pod Security judges the init container with its advice applied: no violation of its own.
    expect(a.pss.restrictedViolations.filter((v) => v.includes('"migrate"'))).toEqual([]);
  });

  test('unprivileged nginx: its uid, no capability, /tmp as an emptyDir, restricted', () => {
    const a = advise('web-np', [f.nginxUnprivileged], f.nginxUnprivilegedSpec);
    expectGolden('securitycontext/nginx-unprivileged.advice.json', goldenJson(a));
    expect(a.containers[0].securityContext).toMatchObject({
      runAsUser: 1000,
      runAsGroup: 1000,
      runAsNonRoot: true,
    });
    expect(a.pss).toEqual({ level: 'restricted', baselineViolations: [], restrictedViolations: [] });
  });

  test("a non-root image with an exec probe: the runtime's user switch per probe is not the workload's; its uid, restricted", () => {
    const a = advise('probed', [f.execProbeNonRoot], f.execProbeSpec);
    expectGolden('securitycontext/exec-probe-non-root.advice.json', goldenJson(a));
    const [c] = a.containers;
    expect(c.rootNeeded).toBeUndefined();
    expect(c.securityContext).toMatchObject({
      runAsUser: 1000,
      runAsGroup: 1000,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      allowPrivilegeEscalation: false,
    });
    expect(c.securityContext.capabilities?.add).toBeUndefined();
    expect(c.notes.join(' ')).toMatch(/24 set\*id calls the runtime made/);
    expect(a.pss.level).toBe('restricted');
  });

  test('redis ran as root but never needed it: an unprivileged id, read-only root, restricted; replicas merge', () => {
    const a = advise('cache', f.redisReplicas, f.redisSpec, 'harden/cache-redis.json');
    expectGolden('securitycontext/redis.advice.json', goldenJson(a));
    expect(a.containers).toHaveLength(1);
    expect(a.containers[0].securityContext).toMatchObject({
      runAsUser: 65534,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      seccompProfile: { type: 'Localhost', localhostProfile: 'harden/cache-redis.json' },
    });
    expect(a.pss.level).toBe('restricted');
  });

  test('root writing, as the owner, where no emptyDir goes (/healthy, a relative path): root stays, the writes named', () => {
    for (const path of ['/healthy', 'app.log']) {
      const rec = {
        ...f.redisReplicas[0],
        writes: [{ syscall: 'openat', path, rootfs: 'yes' as const, count: 1 }],
      };
      const [c] = advise('cache', [rec], f.redisSpec).containers;
      expect(c.securityContext.runAsUser).toBeUndefined();
      expect(c.securityContext.runAsNonRoot).toBeUndefined();
      expect(c.rootNeeded?.why).toContain(`openat ${path}`);
      expect(c.securityContext.readOnlyRootFilesystem).toBe(false);
    }
    // Its list of root filesystem writes cut at the bound: nothing said of the user either.
    const cut = { ...f.redisReplicas[0], truncatedLists: ['writes' as const] };
    const [c] = advise('cache', [cut], f.redisSpec).containers;
    expect(c.securityContext.runAsUser).toBeUndefined();
    expect(c.notObserved.join(' ')).toMatch(/runAsUser and runAsNonRoot are not advised either/);
  });

  test('redis reading a file other users may not: root stays, and the file is named', () => {
    const a = advise('cache', [f.redisPrivateConfig], f.redisSpec);
    const [c] = a.containers;
    expect(c.securityContext.runAsUser).toBeUndefined();
    expect(c.rootNeeded?.why).toContain('/etc/redis/redis.conf (0640 uid 0 gid 999)');
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(a.pss.level).toBe('baseline');
  });

  test('a container whose start was not seen gets no guess at what its start-up decides', () => {
    const a = advise('cache', [f.redisLate], f.redisSpec);
    expectGolden('securitycontext/redis-start-not-seen.advice.json', goldenJson(a));
    expectNoStartUpAdvice(a);
    expect(a.containers[0].notObserved.join(' ')).toMatch(/start-up/);
    expect(a.pss.level).not.toBe('restricted');
  });

  test('a record from its start without its exec (events lost or late) claims nothing it did not see', () => {
    // On the node under load: nginx as root, traced from its start, whose exec never reached the
    // record; read as "used nothing", it was advised drop ALL and a read-only root, which breaks it.
    const lost = { ...f.nginxRoot, credentials: [], idChanges: [], capChecks: [], writes: [] };
    const a = advise('web', [lost], f.nginxRootSpec);
    expectNoStartUpAdvice(a);
    expect(a.containers[0].notObserved.join(' ')).toMatch(/no record of its entrypoint’s exec arrived/);
    expect(a.pss.level).not.toBe('restricted');
  });

  test('hundreds of volume writes cannot crowd out the one root filesystem write: its emptyDir is advised', () => {
    const a = advise('store', [f.volumeFiller], f.volumeFillerSpec);
    const [c] = a.containers;
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(c.emptyDirs).toEqual(['/var/run']);
    expect(c.notes.join(' ')).toMatch(/writes off the root filesystem hit its bound \(256 entries per list/);
    expect(a.pss.level).toBe('restricted');
  });

  test('root filesystem writes beyond their bound: readOnlyRootFilesystem is withheld, the list and bound named', () => {
    const a = advise('store', [f.rootfsFiller], f.volumeFillerSpec);
    expectGolden('securitycontext/rootfs-writes-truncated.advice.json', goldenJson(a));
    const [c] = a.containers;
    expect(c.securityContext).not.toHaveProperty('readOnlyRootFilesystem');
    expect(c.emptyDirs).toEqual([]);
    expect(c.notObserved).toEqual([
      'the agent’s list of root filesystem writes hit its bound (256 entries per list, 3000 across a node’s records): ' +
        'what lies beyond it is unknown, so readOnlyRootFilesystem is not advised, nor emptyDirs for it',
    ]);
    // What other lists decide still stands.
    expect(c.securityContext).toMatchObject({ runAsUser: 1000, capabilities: { drop: ['ALL'] } });
  });

  test("an older agent's record that says only 'truncated': nothing that any list decides is advised", () => {
    const a = advise('store', [f.oldAgentFiller], f.volumeFillerSpec);
    expectNoStartUpAdvice(a);
    expect(a.containers[0].notObserved.join(' ')).toMatch(/root filesystem writes/);
  });

  test('privileged with unused capabilities and host PID: named as unused, privileged turned off', () => {
    const a = advise('tool', [f.privilegedTool], f.privilegedSpec);
    expectGolden('securitycontext/privileged.advice.json', goldenJson(a));
    expect(a.containers[0].unused).toEqual(['capabilities.add NET_ADMIN', 'privileged: true']);
    expect(a.containers[0].securityContext.allowPrivilegeEscalation).toBe(true);
    expect(a.containers[0].securityContext.readOnlyRootFilesystem).toBe(false);
    expect(a.pss.level).toBe('privileged');
    expect(a.pss.baselineViolations).toEqual(['hostPID: true']);
  });

  test('a late session claims nothing unused: privileged and added capabilities stay as they are', () => {
    const a = advise('tool', [{ ...f.privilegedTool, recordedFromStart: false }], f.privilegedSpec);
    expect(a.containers[0].unused).toEqual([]);
    expect(a.containers[0].securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
  });

  test('an instance seen from its start speaks for one that was already running (a rollout)', () => {
    const a = advise('cache', [f.redisLate, f.redisReplicas[1]], f.redisSpec);
    expect(a.containers[0].notObserved).toEqual([]);
    expect(a.containers[0].securityContext.runAsNonRoot).toBe(true);
  });

  test('a session with two workloads gives one advice each, sorted', () => {
    const all = adviseSession('web', [f.nginxRoot, ...f.redisReplicas], new Map());
    expect(all.map((a) => a.workload)).toEqual(['cache', 'web']);
  });
});

describe('what is needed and where writes land', () => {
  test.each([
    [{ capability: 'CAP_SYS_ADMIN', syscall: 'brk', granted: true, onBehalf: false }, false],
    [{ capability: 'CAP_SYS_ADMIN', syscall: 'mount', granted: true, onBehalf: false }, true],
    [{ capability: 'CAP_NET_BIND_SERVICE', syscall: 'bind', granted: false, onBehalf: false }, false],
    [{ capability: 'CAP_DAC_OVERRIDE', syscall: 'openat', granted: true, onBehalf: true }, false],
    [{ capability: 'CAP_KILL', syscall: '(none)', granted: true, onBehalf: false }, false],
    [{ capability: 'CAP_CHOWN', syscall: 'fchownat', granted: true, onBehalf: false }, true],
  ])('%o needed: %s', (check, needed) => {
    expect(judgeCheck(check).needed).toBe(needed);
  });

  test('absolute path-only writes go by the mounts; runtime mounts are not the root fs; outer dirs win', () => {
    const w = rootfsWrites({
      mounts: ['/data'],
      writes: [
        { syscall: 'mkdir', path: '/data/x', rootfs: 'unknown', count: 1 },
        { syscall: 'unlink', path: '/dev/shm/y', rootfs: 'unknown', count: 1 },
        { syscall: 'mkdir', path: '/var/cache/app/a', rootfs: 'unknown', count: 1 },
        { syscall: 'openat', path: '/var/cache/app/a/b/c', rootfs: 'yes', count: 1 },
        { syscall: 'openat', path: '/var/cache/app', rootfs: 'yes', count: 1 },
        { syscall: 'rename', path: 'rel/z', rootfs: 'yes', count: 1 },
      ],
    });
    expect(w).toEqual({ dirs: ['/var/cache'], unplaceable: ['rename rel/z'], total: 4 });
  });

  test('a path through `..` is where it lands, not under the mount it names first', () => {
    const w = rootfsWrites({
      mounts: ['/data', '/var/run'],
      writes: [
        { syscall: 'mkdir', path: '/data/../var/lib/app', rootfs: 'unknown', count: 1 },
        { syscall: 'openat', path: '/var/run/../tmp/foo', rootfs: 'unknown', count: 1 },
        { syscall: 'openat', path: '/data/./a/../b', rootfs: 'unknown', count: 1 },
      ],
    });
    expect(w).toEqual({ dirs: ['/var/lib', '/var/tmp'], unplaceable: [], total: 2 });
  });

  test('emptyDir names are DNS labels', () => {
    expect(emptyDirName('/var/log/nginx')).toBe('harden-var-log-nginx');
    expect(emptyDirName('/' + 'x'.repeat(80))).toHaveLength(63);
  });

  test('PSS: baseline forbids unsafe sysctls, SELinux types and users of its own, AppArmor unconfined, hostProcess', () => {
    const restricted = {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' as const },
    };
    const level = (pod: object, container: object = {}) =>
      evaluatePss({
        securityContext: pod,
        containers: [{ name: 'c', securityContext: { ...restricted, ...container } }],
      });
    expect(level({ sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] }).level).toBe(
      'restricted',
    );
    expect(level({ seLinuxOptions: { type: 'container_t', level: 's0:c1,c2' } }).level).toBe('restricted');
    expect(level({}, { appArmorProfile: { type: 'RuntimeDefault' } }).level).toBe('restricted');
    for (const [pod, container, why] of [
      [
        { sysctls: [{ name: 'net.core.somaxconn', value: '1024' }] },
        {},
        'pod sets sysctl net.core.somaxconn',
      ],
      [{ seLinuxOptions: { type: 'spc_t' } }, {}, 'pod has SELinux type spc_t'],
      [{}, { seLinuxOptions: { user: 'system_u' } }, 'container "c" sets SELinux user system_u'],
      [{}, { appArmorProfile: { type: 'Unconfined' } }, 'container "c" has AppArmor profile Unconfined'],
      [{ windowsOptions: { hostProcess: true } }, {}, 'pod is a Windows hostProcess'],
    ] as const) {
      const r = level(pod, container);
      expect(r.level).toBe('privileged');
      expect(r.baselineViolations).toEqual([expect.stringContaining(why)]);
    }
  });

  test('PSS: baseline forbids extra capabilities, restricted wants NET_BIND_SERVICE at most', () => {
    const spec = (add: string[]) => ({
      containers: [
        {
          name: 'c',
          securityContext: {
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'], add },
            seccompProfile: { type: 'RuntimeDefault' as const },
          },
        },
      ],
    });
    expect(evaluatePss(spec(['NET_BIND_SERVICE'])).level).toBe('restricted');
    expect(evaluatePss(spec(['CHOWN'])).level).toBe('baseline');
    expect(evaluatePss(spec(['SYS_ADMIN'])).level).toBe('privileged');
  });
});
