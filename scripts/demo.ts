// The seed's walkthrough on the testenv's node, as an operator types it: the agent deployed from its
// image, an nginx Deployment with a Service and a curl client, a seccomp profile recorded from the
// running nginx and proven on a new pod, a NetworkPolicy recorded from its traffic and proven with
// felix. Every command is printed ("$ ...") with its output, so stdout is a readable transcript.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The seed's walkthrough works in "default"; a shared cluster can give the demo its own namespace.
const NS = process.env.HARDEN_DEMO_NAMESPACE ?? 'default';
const REPO = process.env.HARDEN_REPO_ROOT ?? process.cwd();
// kubelet's default --root-dir: where users install Localhost seccomp profiles.
const SECCOMP_ROOT = '/var/lib/kubelet/seccomp';
const PROFILE = `harden-demo/${NS}-nginx.json`;

const dir = mkdtempSync(join(tmpdir(), 'harden-demo-'));
// `kubectl harden` as users run it: kubectl finds the plugin on PATH.
const plugin = join(dir, 'kubectl-harden');
writeFileSync(plugin, `#!/bin/sh\nexec ${process.execPath} ${REPO}/dist/kubectl-harden.cjs "$@"\n`);
chmodSync(plugin, 0o755);
const env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` };

const out = (text: string) => process.stdout.write(text);
const say = (text: string) => out(`\n# ${text}\n`);

interface Result {
  code: number;
  stdout: string;
}

/** Runs one shell command line in the demo's directory, echoing it and everything it prints. */
function sh(line: string, opts: { quiet?: boolean } = {}): Promise<Result> {
  if (!opts.quiet) out(`$ ${line}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', line], { cwd: dir, env });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!opts.quiet) out(d.toString());
    });
    child.stderr.on('data', (d: Buffer) => {
      if (!opts.quiet) out(d.toString());
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

/** A step that must succeed. */
async function must(line: string): Promise<string> {
  const r = await sh(line);
  if (r.code !== 0) throw new Error(`"${line}" exited ${r.code}`);
  return r.stdout;
}

/**
 * A probe whose answer settles in time (felix programming rules, kubelet restarting a container):
 * polled quietly until `want` holds (or 30 s pass), then shown once with its exit code.
 */
async function settle(line: string, want: (code: number, stdout: string) => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await sh(line, { quiet: true });
    if (want(r.code, r.stdout) || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const r = await sh(`${line}; echo " (exit $?)"`);
  const m = /^([\s\S]*) \(exit (\d+)\)\s*$/.exec(r.stdout);
  if (!m || !want(Number(m[2]), m[1])) throw new Error(`"${line}": unexpected result`);
}

/** The first pod a label selector matches, shown as the command that finds it. */
async function podOf(selector: string): Promise<string> {
  const name = await must(`kubectl get pods ${n} -l ${selector} -o jsonpath='{.items[0].metadata.name}'`);
  out('\n');
  return name.trim();
}

const n = `-n ${NS}`;
const CURL = `kubectl exec ${n} curl -- curl -sS -o /dev/null -w '%{http_code}\\n' nginx`;

async function walkthrough(): Promise<void> {
  say('the agent, from its image');
  await must('kubectl harden deploy --image $HARDEN_AGENT_IMAGE');

  say('a workload: nginx behind a Service, and a curl client');
  if (NS !== 'default') await must(`kubectl create namespace ${NS}`);
  await must(`kubectl create deployment nginx ${n} --image=$HARDEN_IMAGE_NGINX --port=80`);
  await must(`kubectl expose deployment nginx ${n} --port=80`);
  await must(`kubectl run curl ${n} --image=$HARDEN_IMAGE_CURL`);
  await must(`kubectl rollout status deployment/nginx ${n} --timeout=120s`);
  await must(`kubectl wait ${n} --for=condition=Ready pod/curl --timeout=120s`);

  say('seccomp: trace the running nginx pod, exercise it, stop → its profile');
  const id = (
    await must(
      `kubectl harden seccomp start ${n} -p $(kubectl get pods ${n} | grep nginx | head -n 1 | awk '{print $1}')`,
    )
  ).trim();
  // A session started on a running pod sees only what comes next; a new pod also needs nginx's
  // start-up. Restarting nginx in place (same pod, kubelet starts a new container) records it.
  say('nginx was already running: restart it in its pod, so its start-up is recorded too');
  const traced = await podOf('app=nginx');
  await must(`kubectl exec ${n} ${traced} -- nginx -s quit`);
  await settle(
    `kubectl get pod ${traced} ${n} -o jsonpath='{.status.containerStatuses[0].restartCount}'`,
    (code, stdout) => code === 0 && Number(stdout) >= 1,
  );
  await must(`kubectl wait ${n} --for=condition=Ready pod/${traced} --timeout=60s`);
  for (let i = 0; i < 3; i++) await must(CURL);
  await must(`kubectl harden seccomp stop ${id} ${n} > nginx.json`);
  await must('cat nginx.json');

  say("confined: a new nginx pod under the profile, installed in kubelet's seccomp root");
  await must(`install -D -m 0644 nginx.json ${SECCOMP_ROOT}/${PROFILE}`);
  await must(
    `kubectl run nginx-confined ${n} --image=$HARDEN_IMAGE_NGINX --port=80 ` +
      `--overrides='{"spec":{"securityContext":{"seccompProfile":{"type":"Localhost","localhostProfile":"${PROFILE}"}}}}'`,
  );
  await must(`kubectl wait ${n} --for=condition=Ready pod/nginx-confined --timeout=60s`);
  await must(
    `kubectl exec ${n} curl -- curl -sS -o /dev/null -w '%{http_code}\\n' ` +
      `$(kubectl get pod nginx-confined ${n} -o jsonpath='{.status.podIP}')`,
  );
  // nginx never made a symlink while traced (symlinkat is not in the profile): refused, EPERM.
  const ln = await sh(`kubectl exec ${n} nginx-confined -- ln -s /etc/hostname /tmp/never-traced`);
  if (ln.code === 0) throw new Error('symlinkat succeeded under the recorded profile');

  say('netpol: monitor the nginx pod while the client talks to it, Ctrl-C, report → its policy');
  // By the Deployment's label: `grep nginx` would now also match nginx-confined.
  const pod = await podOf('app=nginx');
  await monitor(`kubectl harden netpol monitor ${n} -p ${pod} --output net.log`, async () => {
    for (let i = 0; i < 3; i++) await must(CURL);
  });
  await must('kubectl harden netpol report --input net.log > netpol.yaml');
  await must('cat netpol.yaml');
  await must(`kubectl apply ${n} -f netpol.yaml`);

  say('enforced by felix: the labelled client passes, an unlabelled one times out');
  await must(`kubectl run stranger ${n} --image=$HARDEN_IMAGE_CURL --labels=`);
  await must(`kubectl wait ${n} --for=condition=Ready pod/stranger --timeout=120s`);
  await settle(`kubectl exec ${n} curl -- curl -sS -o /dev/null --connect-timeout 1 nginx`, (c) => c === 0);
  // curl's exit 28: the connection attempt timed out (dropped), not refused.
  await settle(
    `kubectl exec ${n} stranger -- curl -sS -o /dev/null --connect-timeout 1 nginx`,
    (c) => c === 28,
  );
}

/** `netpol monitor` in the background while `traffic` runs, ended with Ctrl-C (SIGINT) as a user would. */
async function monitor(line: string, traffic: () => Promise<void>): Promise<void> {
  out(`$ ${line} &\n`);
  const child = spawn('bash', ['-c', `exec ${line}`], {
    cwd: dir,
    env,
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? 1)));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      out(d.toString());
      stderr += d.toString();
      if (stderr.includes('monitoring')) resolve();
    });
    void exited.then((code) => reject(new Error(`netpol monitor exited ${code} before monitoring`)));
  });
  await traffic();
  out('$ kill -INT %1   # Ctrl-C\n');
  child.kill('SIGINT');
  const code = await exited;
  if (code !== 0) throw new Error(`netpol monitor exited ${code}`);
}

/** Removes what the walkthrough made, whatever step it reached. */
async function teardown(): Promise<void> {
  say('clean up');
  await sh(`kubectl delete ${n} networkpolicy --all`);
  await sh(
    `kubectl delete ${n} --ignore-not-found pod/curl pod/stranger pod/nginx-confined deployment/nginx service/nginx`,
  );
  if (NS !== 'default') await sh(`kubectl delete namespace ${NS} --ignore-not-found`);
  await sh(`rm -f ${SECCOMP_ROOT}/${PROFILE}; rmdir --ignore-fail-on-non-empty ${SECCOMP_ROOT}/harden-demo`);
  await sh('kubectl harden undeploy --force');
}

async function main(): Promise<void> {
  const t0 = Date.now();
  try {
    await walkthrough();
  } finally {
    await teardown();
    process.stderr.write(`demo: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
