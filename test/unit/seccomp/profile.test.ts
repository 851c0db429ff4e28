import {
  buildProfiles,
  profileFileName,
  ProfileError,
  toSeccompProfileCrd,
  type ContainerObservation,
} from '../../../lib/seccomp/profile';
import { CRUN, RUNC } from '../../../lib/seccomp/runtime-syscalls';
import { expectGolden, goldenJson } from '../golden';

// amd64: read 0, write 1, close 3, mmap 9, execve 59, exit_group 231, openat 257, accept4 288.
function obs(over: Partial<ContainerObservation>): ContainerObservation {
  return {
    namespace: 'web',
    workload: 'nginx',
    container: 'nginx',
    arch: 'amd64',
    syscalls: [59, 0, 1],
    startSeen: true,
    filterSeen: true,
    runtime: 'runc',
    ...over,
  };
}

/** The profiles built, none refused. */
function builtOf(observations: ContainerObservation[]) {
  const out = buildProfiles(observations);
  expect(out.refused).toEqual([]);
  return out.built;
}

describe('buildProfiles', () => {
  it("merges replicas; window recorded under a filter → only runc's timing-dependent calls added (golden)", () => {
    const built = builtOf([
      obs({ syscalls: [59, 0, 1, 3] }),
      obs({ syscalls: [288, 257, 0, 231] }),
      obs({ container: 'sidecar', syscalls: [59, 9, 231] }),
    ]);
    expect(built.map((b) => b.container)).toEqual(['nginx', 'sidecar']);
    expect(built[0].addedFromRuntimeList).toEqual([...RUNC.timingDependent].sort());
    expect(built[0].profile.syscalls[0].names).toEqual(
      [
        ...new Set([
          'accept4',
          'close',
          'execve',
          'exit_group',
          'openat',
          'read',
          'write',
          ...RUNC.timingDependent,
        ]),
      ].sort(),
    );
    expect(built[0].notes.join('\n')).toContain('no runtime list added');
    expectGolden('seccomp/profile-merged-amd64.json', goldenJson(built));
  });

  it('adds the runc list when the start was not seen (golden)', () => {
    const [b] = builtOf([obs({ startSeen: false, filterSeen: false })]);
    // Only what the list adds beyond the observations is reported as added.
    expect(b.addedFromRuntimeList).not.toContain('execve');
    expect(b.addedFromRuntimeList).toContain('setuid');
    expect(b.profile.syscalls[0].names).toEqual([...new Set([...RUNC.names, 'read', 'write'])].sort());
    expect(b.notes.join('\n')).toMatch(
      /start not seen \(1 replica\).*source: runc's libcontainer\/standard_init_linux\.go/,
    );
    expectGolden('seccomp/profile-runc-start-not-seen.json', goldenJson(b));
  });

  it('adds the list when the container ran without a filter while traced', () => {
    const [b] = builtOf([obs({ filterSeen: false })]);
    expect(b.addedFromRuntimeList.length).toBeGreaterThan(0);
    expect(b.notes.join('\n')).toMatch(/ran without a seccomp filter while traced \(1 replica\)/);
  });

  it('adds the list if any replica lacks the window, counting the reasons', () => {
    const [b] = builtOf([
      obs({}),
      obs({ startSeen: false }),
      obs({ startSeen: false }),
      obs({ filterSeen: false }),
    ]);
    expect(b.addedFromRuntimeList.length).toBeGreaterThan(0);
    expect(b.notes[0]).toBe('merged 4 replicas');
    expect(b.notes[1]).toMatch(
      /start not seen \(2 replicas\), ran without a seccomp filter while traced \(1 replica\)/,
    );
  });

  it('arm64: its architectures, and crun names the arch lacks are left out (golden)', () => {
    // arm64: read 63, write 64, execve 221, exit_group 94.
    const built = builtOf([
      obs({ arch: 'arm64', runtime: 'crun', startSeen: false, syscalls: [221, 63, 64, 94] }),
      obs({ arch: 'arm64', runtime: 'crun', startSeen: false, syscalls: [221, 63] }),
    ]);
    expect(built).toHaveLength(1);
    const [b] = built;
    expect(b.profile.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(CRUN.names).toContain('select');
    expect(b.profile.syscalls[0].names).not.toContain('select');
    expect(b.profile.syscalls[0].names).toContain('pselect6');
    expectGolden('seccomp/profile-crun-arm64.json', goldenJson(b));
  });

  it('amd64 lists X86_64, X86 and X32', () => {
    // crun: a C runtime, so nothing timing-dependent is added to what was recorded.
    expect(builtOf([obs({ runtime: 'crun' })])[0].profile).toEqual({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['execve', 'read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ],
    });
  });

  it('answers clone3 ENOSYS unless it was seen, on either architecture (glibc then uses clone)', () => {
    // clone 56, clone3 435 (amd64); clone 220, clone3 435 (arm64).
    for (const [arch, clone] of [
      ['amd64', 56],
      ['arm64', 220],
    ] as const) {
      const [unseen] = builtOf([obs({ arch, syscalls: [clone, 0, 1] })]);
      expect(unseen.profile.syscalls.slice(1)).toEqual([
        { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
      ]);
      expect(unseen.profile.syscalls[0].names).not.toContain('clone3');
      const [seen] = builtOf([obs({ arch, syscalls: [clone, 435, 0, 1] })]);
      expect(seen.profile.syscalls).toHaveLength(1);
      expect(seen.profile.syscalls[0].names).toContain('clone3');
    }
  });

  it('adds each runtime list that replicas on different runtimes need', () => {
    const [b] = builtOf([obs({ startSeen: false }), obs({ runtime: 'crun', startSeen: false })]);
    expect(b.notes.filter((n) => n.startsWith('added'))).toHaveLength(2);
    expect(b.profile.syscalls[0].names).toEqual(expect.arrayContaining(['setresuid', 'setuid']));
  });

  it('keeps same-named containers of different workloads apart, sorted', () => {
    const built = builtOf([
      obs({ workload: 'b', container: 'app' }),
      obs({ namespace: 'api', workload: 'z', container: 'app' }),
      obs({ workload: 'a', container: 'app' }),
    ]);
    expect(built.map((b) => `${b.namespace}/${b.workload}/${b.container}`)).toEqual([
      'api/z/app',
      'web/a/app',
      'web/b/app',
    ]);
  });

  it('merges replicas on amd64 and arm64 nodes into one profile that lists both architectures', () => {
    // amd64 59 execve, 0 read; arm64 63 read, 221 execve, 64 write.
    const [b] = builtOf([obs({ syscalls: [59, 0] }), obs({ arch: 'arm64', syscalls: [221, 63, 64] })]);
    expect(b.profile.architectures).toEqual([
      'SCMP_ARCH_X86_64',
      'SCMP_ARCH_X86',
      'SCMP_ARCH_X32',
      'SCMP_ARCH_AARCH64',
      'SCMP_ARCH_ARM',
    ]);
    expect(b.profile.syscalls[0].names).toEqual(expect.arrayContaining(['execve', 'read', 'write']));
    expect(b.notes).toContain('replicas ran on amd64 and arm64 nodes: the profile lists both');
  });

  it('refuses one container whose numbers are unknown, all of them in one reason, and builds the others', () => {
    const out = buildProfiles([
      obs({ syscalls: [0, 3000] }),
      obs({ syscalls: [2000] }),
      obs({ workload: 'other' }),
    ]);
    expect(out.built.map((b) => b.workload)).toEqual(['other']);
    expect(out.refused).toEqual([
      {
        namespace: 'web',
        workload: 'nginx',
        container: 'nginx',
        reason: expect.stringMatching(/^unknown syscall numbers 2000, 3000 on amd64/),
      },
    ]);
  });

  it.each([
    ['start recorded under a filter', {}],
    ['start not seen: runc list', { startSeen: false, filterSeen: false }],
    ['start not seen: crun list', { startSeen: false, filterSeen: false, runtime: 'crun' as const }],
  ])('refuses a profile with no observed syscalls, whatever the runtime list (%s)', (_, over) => {
    expect(buildProfiles([obs({ syscalls: [], ...over })])).toEqual({
      built: [],
      refused: [
        {
          namespace: 'web',
          workload: 'nginx',
          container: 'nginx',
          reason: 'container nginx of web/nginx: no syscalls recorded, so there is nothing to allow',
        },
      ],
    });
  });

  it('returns nothing for no observations', () => {
    expect(buildProfiles([])).toEqual({ built: [], refused: [] });
  });
});

describe('toSeccompProfileCrd', () => {
  it('wraps the profile as a security-profiles-operator SeccompProfile (golden)', () => {
    const [b] = builtOf([obs({ syscalls: [59, 0, 1, 231] })]);
    const crd = toSeccompProfileCrd('nginx-nginx', 'web', b.profile);
    expect(crd.spec).toEqual(b.profile);
    expect(crd.spec).not.toBe(b.profile);
    expectGolden('seccomp/crd.json', goldenJson(crd));
  });

  it("is named by its namespace too: SPO ≥ 0.9 keeps every namespace's SeccompProfiles under one name space", () => {
    const [b] = builtOf([obs({})]);
    const names = ['staging', 'prod'].map(
      (ns) => toSeccompProfileCrd('web-nginx', ns, b.profile).metadata.name,
    );
    expect(names).toEqual(['staging.web-nginx', 'prod.web-nginx']);
  });

  it('rejects names the API server would', () => {
    const [b] = builtOf([obs({})]);
    expect(() => toSeccompProfileCrd('Nginx_1', 'web', b.profile)).toThrow(/DNS-1123/);
  });
});

describe('profileFileName', () => {
  it('is <namespace>-<workload>-<container>.json', () => {
    expect(profileFileName('web', 'nginx', 'sidecar')).toBe('web-nginx-sidecar.json');
  });

  it('refuses parts that would escape the directory', () => {
    expect(() => profileFileName('web', '../x', 'c')).toThrow(ProfileError);
    expect(() => profileFileName('', 'w', 'c')).toThrow(ProfileError);
  });
});
