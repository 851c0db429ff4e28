// The demo's steps, on the testenv: what an operator would type, with a real workload in between.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type Agent } from '../test/support/agent';
import { harden } from '../test/support/cluster';
import { startMonitor } from '../test/support/monitor';
import { cleanupAll, ensureNamespace, execInPod, runPod, type Pod } from '../test/support/pods';
import { RUNTIME_DEFAULT_LIKE } from '../test/support/profiles';

const NS = 'demo';
const say = (text: string) => process.stderr.write(`\n== ${text}\n`);

async function must(args: string[]): Promise<string> {
  const r = await harden(args);
  process.stderr.write(r.stderr);
  if (r.code !== 0) throw new Error(`kubectl harden ${args.join(' ')} failed (exit ${r.code})`);
  return r.stdout;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'harden-demo-'));
  let agent: Agent | undefined;
  const pods: Pod[] = [];
  try {
    say('kubectl harden deploy');
    await must(['deploy', '--wait=false']);
    agent = await startAgent();
    await must(['deploy', '--timeout', '60s']);
    await ensureNamespace(NS);

    say(
      `kubectl harden seccomp start -n ${NS} -l app=web   (before the pod exists: recorded from its first instruction)`,
    );
    const id = (await must(['seccomp', 'start', '-n', NS, '-l', 'app=web'])).trim();

    say(`kubectl harden netpol monitor -n ${NS} -l app=web --output net.log --timeout 25s`);
    const netLog = join(dir, 'net.log');
    const monitor = startMonitor(['-n', NS, '-l', 'app=web', '--output', netLog, '--timeout', '25s'], {
      echo: true,
    });
    // Traffic before the monitor's session is tracing would go unseen: wait for its word.
    await monitor.started;

    say('running the workload: busybox httpd, and a client that fetches from it');
    const web = await runPod({
      namespace: NS,
      name: 'web',
      labels: { app: 'web' },
      containers: [
        {
          name: 'httpd',
          args: ['httpd', '-f', '-p', '80', '-h', '/www'],
          seccompProfile: RUNTIME_DEFAULT_LIKE,
        },
      ],
    });
    pods.push(web);
    const client = await runPod({
      namespace: NS,
      name: 'client',
      labels: { app: 'client' },
      containers: [{ name: 'client', args: ['sleep', '3600'] }],
    });
    pods.push(client);
    for (let i = 0; i < 5; i++) {
      const r = await execInPod(client, 'client', [
        'timeout',
        '5',
        'wget',
        '-q',
        '-O',
        '-',
        `http://${web.ip}/`,
      ]);
      process.stderr.write(`client -> web: ${r.code === 0 ? 'ok' : `failed (${r.stderr.trim()})`}\n`);
    }

    say(`kubectl harden seccomp stop ${id} -n ${NS}`);
    const profile = await must(['seccomp', 'stop', id, '-n', NS]);
    process.stdout.write(`# seccomp profile for ${NS}/web, container httpd\n${profile}`);

    say('waiting for netpol monitor to finish');
    if ((await monitor.exited) !== 0) throw new Error('netpol monitor failed');
    say('kubectl harden netpol report --input net.log');
    const policy = await must(['netpol', 'report', '--input', netLog]);
    process.stdout.write(
      `# NetworkPolicy for ${NS}/web (from ${readFileSync(netLog, 'utf8').split('\n').length - 2} flow lines)\n${policy}`,
    );
  } finally {
    await cleanupAll().catch((e) => process.stderr.write(`cleanup: ${e}\n`));
    await agent?.stop();
    await harden(['undeploy', '--force', '--wait=false']);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
