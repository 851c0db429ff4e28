// The checks the plugin and, again, every agent run on a profile to install: each refusal names
// the field or the name that is wrong, so "not a profile" is never a bare "invalid".
import {
  checkInstall,
  checkName,
  digestOf,
  installText,
  localhostProfile,
  MAX_PROFILE_BYTES,
  profileName,
  parseProfile,
  type SeccompProfileInstall,
} from '../../../lib/seccomp/install';
import { agentClusterRole, tracerClusterRole } from '../../../lib/deploy/manifests';

const PROFILE = {
  defaultAction: 'SCMP_ACT_ERRNO',
  architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }],
};
const text = (p: unknown) => JSON.stringify(p);

describe('names', () => {
  test.each(['nginx', 'a', 'web-1', 'x'.repeat(63)])('%s is a name', (n) => expect(checkName(n)).toBe(n));
  test.each([
    ['../x', 'not a DNS-1123 label'],
    ['a/b', 'not a DNS-1123 label'],
    ['..', 'not a DNS-1123 label'],
    ['.hidden', 'not a DNS-1123 label'],
    ['/etc/passwd', 'not a DNS-1123 label'],
    ['Nginx', 'not a DNS-1123 label'],
    ['x'.repeat(64), 'is 64 characters long (at most 63)'],
    ['', 'is empty'],
  ])('%j is refused: %s', (n, why) => expect(() => checkName(n)).toThrow(why));

  test("a workload's profile name is its stem when that is a label; a container's, or any other, a label with a digest", () => {
    expect(profileName('deployment-nginx')).toBe('deployment-nginx');
    const init = profileName('deployment-redis', 'init');
    expect(init).toMatch(/^deployment-redis-init-[0-9a-f]{8}$/);
    // Never a Deployment named redis-init's, nor another container's.
    expect(init).not.toBe(profileName('deployment-redis-init'));
    expect(init).not.toBe(profileName('deployment-redis', 'main'));
    for (const [stem, container] of [
      ['deployment-api.v2', undefined],
      [`statefulset-${'x'.repeat(80)}`, undefined],
      [`deployment-${'y'.repeat(60)}`, 'sidecar'],
    ] as const) {
      const name = profileName(stem, container);
      expect(checkName(name)).toBe(name);
      expect(name).not.toBe(profileName(stem, 'other'));
    }
  });

  test('the Localhost path is under the namespace prefix', () => {
    expect(localhostProfile('web', 'nginx')).toBe('harden/web/nginx.json');
    expect(() => localhostProfile('..', 'nginx')).toThrow('namespace ".."');
  });
});

describe('profiles', () => {
  test('a generated profile passes', () => expect(parseProfile(text(PROFILE), 'amd64')).toEqual(PROFILE));

  test.each([
    [{ ...PROFILE, defaultAction: 'ALLOW' }, 'defaultAction is "ALLOW": not a seccomp action'],
    [{ syscalls: PROFILE.syscalls }, 'defaultAction is missing'],
    [{ ...PROFILE, defaultaction: 'x' }, 'field "defaultaction": not a field of a seccomp profile'],
    [{ ...PROFILE, architectures: ['x86_64'] }, 'architectures[0] is "x86_64": not a seccomp architecture'],
    [{ ...PROFILE, syscalls: [{ names: ['read'], action: 'ALLOW' }] }, 'syscalls[0].action is "ALLOW"'],
    [
      { ...PROFILE, syscalls: [{ names: [], action: 'SCMP_ACT_ALLOW' }] },
      'syscalls[0].names is missing or empty',
    ],
    [
      { ...PROFILE, syscalls: [{ names: ['../x'], action: 'SCMP_ACT_ALLOW' }] },
      'syscalls[0].names[0] is "../x"',
    ],
    [
      { ...PROFILE, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', nmaes: 1 }] },
      'syscalls[0]: field "nmaes"',
    ],
    [[PROFILE], 'the JSON is not an object'],
    // What runc or containerd would refuse on every node, failing each container created under it.
    [{ ...PROFILE, defaultErrnoRet: -1 }, 'defaultErrnoRet is -1: not a non-negative integer'],
    [{ ...PROFILE, flags: 'SECCOMP_FILTER_FLAG_LOG' }, 'flags is not a list'],
    [{ ...PROFILE, flags: ['TSYNC'] }, 'flags[0] is "TSYNC": not a seccomp filter flag'],
    [
      { ...PROFILE, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: -1 }] },
      'syscalls[0].errnoRet is -1: not a non-negative integer',
    ],
    [
      { ...PROFILE, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: '1' }] },
      'syscalls[0].errnoRet is "1": not a non-negative integer',
    ],
    [
      { ...PROFILE, syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: {} }] },
      'syscalls[0].args is not a list',
    ],
    [
      {
        ...PROFILE,
        syscalls: [
          {
            names: ['personality'],
            action: 'SCMP_ACT_ALLOW',
            args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }],
          },
        ],
      },
      'syscalls[0].args[0].index is 6: not an argument index (0-5)',
    ],
    [
      {
        ...PROFILE,
        syscalls: [
          { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'EQ' }] },
        ],
      },
      'syscalls[0].args[0].op is "EQ": not a comparison',
    ],
    [
      {
        ...PROFILE,
        syscalls: [
          {
            names: ['personality'],
            action: 'SCMP_ACT_ALLOW',
            args: [{ index: 0, value: -8, op: 'SCMP_CMP_EQ' }],
          },
        ],
      },
      'syscalls[0].args[0].value is -8: not a non-negative integer',
    ],
  ])('%j is refused naming the field', (p, why) => expect(() => parseProfile(text(p))).toThrow(why));

  test('flags, errno returns and argument conditions runc takes pass', () =>
    expect(
      parseProfile(
        text({
          ...PROFILE,
          defaultErrnoRet: 1,
          flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
          syscalls: [
            {
              names: ['personality'],
              action: 'SCMP_ACT_ALLOW',
              args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }],
            },
            { names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
          ],
        }),
      ),
    ).toBeDefined());

  test('a uint64 mask past 2^53 passes (runc reads it as an unsigned 64-bit value)', () =>
    expect(
      parseProfile(
        '{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["clone"],"action":"SCMP_ACT_ALLOW",' +
          '"args":[{"index":0,"value":18446744073709551615,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]}]}',
      ),
    ).toBeDefined());

  test('not JSON, and a Kubernetes manifest, are not profiles', () => {
    expect(() => parseProfile('defaultAction: x')).toThrow('not JSON');
    expect(() => parseProfile(text({ apiVersion: 'v1', kind: 'Pod' }))).toThrow('field "apiVersion", "kind"');
  });

  test('10 MB is refused by size before it is parsed', () => {
    const big = text({
      ...PROFILE,
      syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', comment: 'x'.repeat(10e6) }],
    });
    expect(() => parseProfile(big)).toThrow(`at most ${MAX_PROFILE_BYTES} are accepted`);
  });

  test("another architecture than the node's is refused on that node only", () => {
    const arm = text({ ...PROFILE, architectures: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'] });
    expect(parseProfile(arm, 'arm64')).toBeDefined();
    expect(() => parseProfile(arm, 'amd64')).toThrow(
      'lacks SCMP_ARCH_X86_64, the native architecture of this amd64 node',
    );
    expect(parseProfile(text({ defaultAction: 'SCMP_ACT_ALLOW' }), 'amd64')).toBeDefined();
  });

  test('the audit variant logs instead of denying and keeps the rest', () => {
    const audit = JSON.parse(installText({ ...PROFILE, defaultErrnoRet: 1 }, 'Audit'));
    expect(audit).toEqual({ ...PROFILE, defaultAction: 'SCMP_ACT_LOG' });
    // A deny list's denying rules log too, so the workload runs (and is seen) where they would stop it.
    const denyList = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['mount'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      ],
    };
    expect(JSON.parse(installText(denyList, 'Audit'))).toEqual({
      defaultAction: 'SCMP_ACT_LOG',
      syscalls: [
        { names: ['mount'], action: 'SCMP_ACT_LOG' },
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      ],
    });
    expect(installText(PROFILE, 'Enforce')).toBe(`${JSON.stringify(PROFILE, null, 2)}\n`);
  });

  test('an ENOSYS rule (clone3, so glibc falls back to clone) stays as it is under audit', () => {
    const rules = [
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 },
    ];
    expect(JSON.parse(installText({ ...PROFILE, syscalls: rules }, 'Audit'))).toEqual({
      ...PROFILE,
      defaultAction: 'SCMP_ACT_LOG',
      syscalls: rules,
    });
  });
});

describe("the agent's check of an object", () => {
  const obj = (over: Partial<SeccompProfileInstall['spec']> = {}, name = 'nginx'): SeccompProfileInstall => {
    const profile = installText(PROFILE, 'Enforce');
    return {
      apiVersion: 'harden.dev/v1alpha1',
      kind: 'SeccompProfileInstall',
      metadata: { name, namespace: 'web' },
      spec: { profile, digest: digestOf(profile), mode: 'Enforce', ...over },
    };
  };
  test('a sound object gives its path', () =>
    expect(checkInstall(obj(), 'amd64')).toBe('harden/web/nginx.json'));
  test('a digest that is not the profile’s is refused', () =>
    expect(() => checkInstall(obj({ digest: digestOf('x') }), 'amd64')).toThrow("is not the profile's"));
  test('a name written to the cluster directly is checked again', () =>
    expect(() => checkInstall(obj({}, '../x'), 'amd64')).toThrow('not a DNS-1123 label'));
  test('sha256 of the text, as sha256sum prints it', () =>
    expect(digestOf('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'));
});

describe('RBAC', () => {
  const rules = (r: { rules: { resources: string[]; verbs: string[] }[] }, res: string) =>
    r.rules.filter((x) => x.resources.includes(res)).flatMap((x) => x.verbs);
  test('the agent reads installs and writes only their status', () => {
    expect(rules(agentClusterRole(), 'seccompprofileinstalls').sort()).toEqual(['get', 'list', 'watch']);
    expect(rules(agentClusterRole(), 'seccompprofileinstalls/status').sort()).toEqual(['get', 'patch']);
  });
  test("namespace admins and editors install, and cannot forge the agents' status", () => {
    expect(rules(tracerClusterRole(), 'seccompprofileinstalls')).toContain('create');
    expect(rules(tracerClusterRole(), 'seccompprofileinstalls/status')).toEqual(['get']);
  });
});
