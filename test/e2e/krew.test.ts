// The release path a user takes: scripts/release builds the single executable and its krew archive,
// and real krew (built by scripts/testenv/build-krew) installs it offline from plugin.yaml, after
// which kubectl finds `kubectl harden` by its plugin lookup. The install transcript is written to
// dist/release/krew-install.log.
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const cache = process.env.HARDEN_CACHE || '/var/cache/kubectl-harden';
const logFile = path.join(root, 'dist/release/krew-install.log');
const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string })
  .version;

interface Run {
  cmd: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

const transcript: string[] = [];

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Run {
  const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', timeout: timeoutMs });
  const res: Run = {
    cmd: [cmd, ...args].join(' '),
    code: r.status,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : ''),
  };
  transcript.push(
    `$ ${res.cmd}\n` +
      (res.stdout ? `--- stdout\n${res.stdout.trimEnd()}\n` : '') +
      (res.stderr ? `--- stderr\n${res.stderr.trimEnd()}\n` : '') +
      `--- exit ${res.code}\n`,
  );
  return res;
}

// Fails with the command's output, so a red test says why.
function expectExit(r: Run, code: number): void {
  if (r.code !== code)
    throw new Error(`${r.cmd}: exit ${r.code}, want ${code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

// Archives and the SEA are per platform; this machine builds linux/amd64 only.
const here = process.platform === 'linux' && process.arch === 'x64' ? describe : describe.skip;

here('krew install from plugin.yaml and the release archive', () => {
  let tmp = '';
  let manifest = '';
  let archive = '';
  let krewRoot = '';
  let env: NodeJS.ProcessEnv = {};

  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'harden-krew-'));
    // krew (validate-krew-manifest) wants the manifest named after the plugin; a copy also keeps
    // the sha256 that this build writes out of the committed plugin.yaml.
    manifest = path.join(tmp, 'harden.yaml');
    copyFileSync(path.join(root, 'plugin.yaml'), manifest);

    // The bundle is built by the e2e entry points (scripts/test, npm run test:e2e) before jest
    // starts; rebuilding it here could change it under other suites. The archive goes to this
    // test's own directory, so a concurrent scripts/release cannot swap it before krew reads it.
    const out = path.join(tmp, 'release');
    const release = run(
      path.join(root, 'scripts/release'),
      ['--skip-build', '--manifest', manifest, '--out', out],
      process.env,
      600_000,
    );
    expectExit(release, 0);
    archive = path.join(out, 'kubectl-harden-linux-amd64.tar.gz');
    const krew = run(path.join(root, 'scripts/testenv/build-krew'), [], process.env, 600_000);
    expectExit(krew, 0);

    // Only these on PATH: kubectl, krew and what krew installs.
    const bin = path.join(tmp, 'bin');
    mkdirSync(bin);
    const current = path.join(cache, 'bin/current/kubectl');
    const kubectl = existsSync(current) ? current : onPath('kubectl');
    if (!kubectl) throw new Error('no kubectl: neither ' + current + ' nor one on PATH');
    symlinkSync(kubectl, path.join(bin, 'kubectl'));
    symlinkSync(path.join(cache, 'bin/kubectl-krew'), path.join(bin, 'kubectl-krew'));

    krewRoot = path.join(tmp, 'krew');
    const home = path.join(tmp, 'home');
    mkdirSync(home);
    env = {
      PATH: [path.join(krewRoot, 'bin'), bin].join(path.delimiter),
      HOME: home,
      KREW_ROOT: krewRoot,
      KREW_NO_UPGRADE_CHECK: '1',
      KUBECONFIG: path.join(home, '.kube/config'),
      // Offline: any attempt to reach the network fails fast on a closed local port.
      HTTP_PROXY: 'http://127.0.0.1:9',
      HTTPS_PROXY: 'http://127.0.0.1:9',
      NO_PROXY: '',
    };
  }, 900_000);

  afterAll(() => {
    mkdirSync(path.dirname(logFile), { recursive: true });
    writeFileSync(logFile, transcript.join('\n'));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('validate-krew-manifest accepts the committed manifest and the one release filled in', () => {
    const committed = path.join(tmp, 'committed', 'harden.yaml');
    mkdirSync(path.dirname(committed));
    copyFileSync(path.join(root, 'plugin.yaml'), committed);
    for (const m of [committed, manifest]) {
      const r = run(path.join(cache, 'bin/validate-krew-manifest'), ['-manifest', m, '-skip-install'], env);
      expectExit(r, 0);
      expect(r.stderr).toContain('structural validation OK');
      expect(r.stderr).toContain('no overlapping spec.platform[].selector');
    }
  });

  test('kubectl krew install --manifest --archive installs harden offline', () => {
    expectExit(run('kubectl', ['version', '--client'], env), 0); // for the transcript
    const r = run('kubectl', ['krew', 'install', `--manifest=${manifest}`, `--archive=${archive}`], env);
    expectExit(r, 0);
    const out = r.stdout + r.stderr;
    expect(out).toContain('Installed plugin: harden');
    // krew shows the caveats after installing.
    expect(out).toContain('kubectl harden deploy');
    expect(existsSync(path.join(krewRoot, 'bin/kubectl-harden'))).toBe(true);
    expect(existsSync(path.join(krewRoot, 'store/harden', `v${version}`, 'LICENSE'))).toBe(true);
    // `kubectl krew list` needs the index, which is not there offline; the receipt is what it reads.
    const receipt = readFileSync(path.join(krewRoot, 'receipts/harden.yaml'), 'utf8');
    expect(receipt).toMatch(/^\s+name: harden$/m);
    expect(receipt).toContain(`version: v${version}`);
  });

  test('kubectl finds the plugin: kubectl harden version --client, kubectl plugin list', () => {
    const v = run('kubectl', ['harden', 'version', '--client'], env);
    expectExit(v, 0);
    expect(v.stdout.trim()).toBe(`Client Version: ${version}`);

    const help = run('kubectl', ['harden', '--help'], env);
    expectExit(help, 0);
    expect(help.stdout).toContain('kubectl harden');

    const list = run('kubectl', ['plugin', 'list'], env);
    expectExit(list, 0);
    expect(list.stdout.split('\n')).toContain(path.join(krewRoot, 'bin/kubectl-harden'));
  });

  test('krew refuses an archive whose sha256 does not match the manifest', () => {
    const bad = path.join(tmp, 'bad', 'harden.yaml');
    mkdirSync(path.dirname(bad));
    writeFileSync(
      bad,
      readFileSync(manifest, 'utf8').replace(
        /(kubectl-harden-linux-amd64\.tar\.gz\n\s*sha256: )'[0-9a-f]{64}'/,
        `$1'${'deadbeef'.repeat(8)}'`,
      ),
    );
    const r = run('kubectl', ['krew', 'install', `--manifest=${bad}`, `--archive=${archive}`], {
      ...env,
      KREW_ROOT: path.join(tmp, 'krew-bad'),
    });
    expect(readFileSync(bad, 'utf8')).toContain('deadbeef'.repeat(8));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/checksum does not match/i);
  });
});
