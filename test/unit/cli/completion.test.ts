import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { complete } from '../../../lib/cli/complete';
import { FakeCluster, runCli } from '../fake-cluster';

// What kubectl (>= 1.26) gets from `kubectl_complete-harden __complete ARGS…`: cobra's protocol.
describe('completion through kubectl', () => {
  test.each([
    [['sec'], 'seccomp\nsecuritycontext\n:4\n'],
    [['securitycontext', 'st'], 'start\nstop\n:4\n'],
    [['sc', ''], 'start\nstop\nshow\nlist\ndelete\n:4\n'],
    [['-n', 'web', 'sc', 'sh'], 'show\n:4\n'],
    [['seccomp', 'st'], 'start\nstop\n:4\n'],
    [['netpol', ''], 'monitor\nreport\nverify\n:4\n'],
    [['-n', 'web', 'dep'], 'deploy\n:4\n'],
    [['deploy', '--con'], '--context\n:4\n'],
    [['seccomp', 'stop', 'sc-1', '--out'], '--output\n--output-dir\n:4\n'],
    [['seccomp', 'stop', 'sc-1', '-o', ''], 'json\ncrd\n:4\n'],
    [['completion', ''], 'bash\nzsh\nfish\npowershell\n:4\n'],
    // Only the verbs that connect offer kubectl's connection flags.
    [['netpol', 'report', '--con'], ':4\n'],
    [['zzz'], ':4\n'],
  ])('%j', async (args, expected) => {
    expect(await complete(args)).toBe(expected);
  });
});

describe('kubectl harden completion SHELL', () => {
  test.each([['bash'], ['zsh'], ['fish']])(
    '%s: an executable that hands kubectl’s question to kubectl-harden, and says how to enable it there',
    async (shell) => {
      const r = await runCli(['completion', shell], new FakeCluster());
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^#!\/bin\/sh\n/);
      expect(r.out).toContain(`kubectl completion ${shell}`);
      // Run it as kubectl does (with the words to complete), and a stand-in kubectl-harden that shows
      // what it was asked.
      const dir = mkdtempSync(join(tmpdir(), 'harden-completion-'));
      writeFileSync(join(dir, 'kubectl_complete-harden'), r.out);
      writeFileSync(join(dir, 'kubectl-harden'), '#!/bin/sh\nprintf "%s|" "$@"\n');
      chmodSync(join(dir, 'kubectl_complete-harden'), 0o755);
      chmodSync(join(dir, 'kubectl-harden'), 0o755);
      const out = execFileSync(join(dir, 'kubectl_complete-harden'), ['sc', 'st', ''], {
        env: { PATH: `${dir}:/usr/bin:/bin` },
        encoding: 'utf8',
      });
      expect(out).toBe('__complete|sc|st||');
    },
  );

  test('powershell: the .cmd that kubectl finds on Windows', async () => {
    const r = await runCli(['completion', 'powershell'], new FakeCluster());
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^@echo off\r\n/);
    expect(r.out).toContain('kubectl-harden __complete %*\r\n');
    expect(r.out).toContain('kubectl completion powershell');
  });

  test('a shell it does not know is a usage error', async () => {
    const r = await runCli(['completion', 'tcsh'], new FakeCluster());
    expect(r.code).toBe(1);
    expect(r.err).toContain('Invalid values');
  });
});
