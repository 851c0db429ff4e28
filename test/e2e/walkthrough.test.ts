// The seed's walkthrough, as a user types it, on the test node: kubelet runs nginx (a Deployment behind a
// Service), a curl client and the agent's DaemonSet pod from the local registry's images; the seccomp
// profile is proven by kubelet loading it (Localhost) for a new pod, the NetworkPolicy by felix.
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { harden, REPO_ROOT, testenvEnv } from '../support/cluster';
import { eventually } from '../support/eventually';
import { kubectl, runRaw, type RunResult } from '../support/exec';
import {
  curlFrom,
  deleteObjects,
  execInKubePod,
  getPod,
  installSeccompProfile,
  removeSeccompProfile,
  runDeployment,
  runKubePod,
  testImage,
  type KubePod,
} from '../support/kube-pods';
import { startMonitor } from '../support/monitor';

const NS = 'default';
const dir = mkdtempSync(join(tmpdir(), 'harden-walkthrough-'));
const profiles: string[] = [];

/** A shell where `kubectl harden` is the bundled plugin, found on PATH the way kubectl finds plugins. */
function sh(script: string): Promise<RunResult> {
  const env = testenvEnv().processEnv;
  return runRaw('bash', ['-c', script], {
    env: { ...env, PATH: `${dir}/bin:${dirname(process.execPath)}:${env.PATH ?? ''}` },
    timeoutMs: 120_000,
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await harden(args);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} -> ${r.code}\n${r.stderr}`);
  return r.stdout;
}

/** `curl --connect-timeout 1 <url>` from a client pod: the HTTP status, or curl's exit code. */
const curl = async (client: string, url: string): Promise<string> => (await curlFrom(NS, client, url)).status;

/** Polls until the client gets `want` (felix programs policy changes asynchronously). */
const until = (client: string, url: string, want: string): Promise<string> =>
  eventually(
    () => curl(client, url),
    (got) => got === want,
    { withinMs: 10_000 },
  );

const traffic = async (url: string) => {
  for (let i = 0; i < 3; i++) expect(await curl('curl', url)).toBe('200');
};

interface Profile {
  defaultAction: string;
  syscalls: { names: string[]; action: string }[];
}

/**
 * `seccomp start` on a pod, traffic, `seccomp stop`; then the profile goes into kubelet's seccomp
 * root and a new pod of the same spec runs under it: it must serve, and mkdir (never done) is EPERM.
 */
async function seccompRoundTrip(
  start: () => Promise<RunResult>,
  url: string,
  confined: Parameters<typeof runKubePod>[0],
): Promise<void> {
  const started = await start();
  expect({ code: started.code, stderr: started.code ? started.stderr : '' }).toEqual({ code: 0, stderr: '' });
  const id = started.stdout.trim();
  await traffic(url);
  const stop = await harden(['seccomp', 'stop', id]);
  expect({ code: stop.code, stderr: stop.code ? stop.stderr : '' }).toEqual({ code: 0, stderr: '' });
  const profile = JSON.parse(stop.stdout) as Profile;
  expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
  process.stdout.write(`${confined.name}: ${profile.syscalls[0].names.length} syscalls\n${stop.stderr}\n`);
  const rel = `harden-e2e/${confined.name}.json`;
  profiles.push(rel);
  const seccompProfile = installSeccompProfile(rel, profile);
  const pod = await runKubePod({
    ...confined,
    securityContext: { ...confined.securityContext, seccompProfile },
  });
  const port = confined.readyPort ?? 80;
  expect(await curl('curl', `http://${pod.status.podIP}:${port}/`)).toBe('200');
  const denied = await execInKubePod(NS, confined.name, ['mkdir', '/tmp/never-made']);
  expect(denied.code).not.toBe(0);
  expect(denied.stderr).toMatch(/Operation not permitted/);
}

/**
 * `netpol monitor -p <pod> --output FILE` ended by Ctrl-C, `netpol report --input FILE`, applied: the
 * labelled client still gets through, the unlabelled one times out.
 */
async function netpolRoundTrip(pod: string, url: string): Promise<void> {
  const log = join(dir, `${pod}.log`);
  const monitor = startMonitor(['-p', pod, '--output', log]);
  await monitor.started;
  await traffic(url);
  const stopped = await monitor.stop();
  expect({ code: stopped.code, stderr: stopped.code ? stopped.stderr : '' }).toEqual({ code: 0, stderr: '' });
  const report = await harden(['netpol', 'report', '--input', log]);
  expect({ code: report.code, stderr: report.code ? report.stderr : '' }).toEqual({ code: 0, stderr: '' });
  process.stdout.write(`policy for ${pod}:\n${report.stdout}\n`);
  await kubectl(['apply', '-f', '-'], { input: report.stdout });
  try {
    expect(await until('curl', url, '200')).toBe('200');
    expect(await until('stranger', url, 'exit 28')).toBe('exit 28'); // curl: connect timed out
  } finally {
    await kubectl(['delete', '-f', '-', '--ignore-not-found'], { input: report.stdout });
  }
}

let nginx: KubePod;
const NON_ROOT = {
  runAsUser: 1000,
  runAsGroup: 1000,
  allowPrivilegeEscalation: false,
};

beforeAll(async () => {
  mkdirSync(join(dir, 'bin'));
  symlinkSync(join(REPO_ROOT, 'dist', 'kubectl-harden.cjs'), join(dir, 'bin', 'kubectl-harden'));
  await ok(['deploy', '--image', testImage('agent'), '--timeout', '180s']);
  [nginx] = await runDeployment({ namespace: NS, name: 'nginx', image: testImage('nginx'), port: 80 });
  await runKubePod({
    namespace: NS,
    name: 'curl',
    image: testImage('curl'),
    labels: { app: 'curl' },
  });
  await runKubePod({ namespace: NS, name: 'stranger', image: testImage('curl') });
}, 600_000);

afterAll(async () => {
  await deleteObjects(NS, [
    'deployment/nginx',
    'service/nginx',
    'pod/curl',
    'pod/stranger',
    'pod/nginx-confined',
    'pod/nginx-non-root',
    'pod/nginx-non-root-confined',
  ]).catch(() => undefined);
  for (const p of profiles) removeSeccompProfile(p);
  await harden(['undeploy', '--force']);
}, 300_000);

test('curl nginx resolves through CoreDNS and reaches the Service', async () => {
  expect(await curl('curl', 'nginx')).toBe('200');
  expect(await curl('stranger', 'nginx')).toBe('200');
});

test("seccomp: start on the first nginx pod (the seed's command line), stop, a new nginx pod serves under the profile", async () => {
  await seccompRoundTrip(
    () =>
      sh(
        "kubectl harden seccomp start -n default -p $(kubectl get pods | grep nginx | head -n 1 | awk '{print $1}')",
      ),
    'nginx',
    { namespace: NS, name: 'nginx-confined', image: testImage('nginx'), readyPort: 80 },
  );
});

test('netpol: monitor the nginx pod, report, apply: the labelled client passes, the unlabelled one times out', async () => {
  await netpolRoundTrip(nginx.metadata.name, 'nginx');
});

describe("the seed's nginx-non-root pod (uid 1000, no privilege escalation, RuntimeDefault)", () => {
  let url: string;
  beforeAll(async () => {
    const pod = await runKubePod({
      namespace: NS,
      name: 'nginx-non-root',
      image: testImage('nginxUnprivileged'),
      labels: { app: 'nginx-non-root' },
      securityContext: { ...NON_ROOT, seccompProfile: { type: 'RuntimeDefault' } },
      readyPort: 8080,
    });
    url = `http://${(await getPod(NS, pod.metadata.name)).status.podIP}:8080/`;
  }, 180_000);

  test('seccomp: traced, stopped, and a new pod of the same securityContext serves under the profile', async () => {
    await seccompRoundTrip(() => harden(['seccomp', 'start', '-p', 'nginx-non-root']), url, {
      namespace: NS,
      name: 'nginx-non-root-confined',
      image: testImage('nginxUnprivileged'),
      securityContext: NON_ROOT,
      readyPort: 8080,
    });
  });

  test('netpol: monitored, reported, applied: the labelled client passes, the unlabelled one times out', async () => {
    await netpolRoundTrip('nginx-non-root', url);
  });
});
