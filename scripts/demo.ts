// The demo's steps, on the testenv: what an operator would type, with a real workload in between.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harden } from '../test/support/cluster';
import {
  deleteNamespace,
  ensureNamespace,
  curlFrom,
  runDeployment,
  runKubePod,
  testImage,
} from '../test/support/kube-pods';
import { startMonitor } from '../test/support/monitor';

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
  try {
    const image = testImage('agent');
    say(`kubectl harden deploy --image ${image}`);
    await must(['deploy', '--image', image, '--timeout', '180s']);
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

    say(
      'running the workload: nginx (unprivileged, RuntimeDefault) behind the Service web, and a curl client',
    );
    await runDeployment({
      namespace: NS,
      name: 'web',
      image: testImage('nginxUnprivileged'),
      port: 8080,
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
    });
    const client = await runKubePod({ namespace: NS, name: 'client', image: testImage('curl') });
    for (let i = 0; i < 5; i++) {
      const r = await curlFrom(NS, client.metadata.name, 'http://web', 2);
      process.stderr.write(`client -> web: ${r.status} ${r.stderr.trim()}\n`);
    }

    say(`kubectl harden seccomp stop ${id} -n ${NS}`);
    const profile = await must(['seccomp', 'stop', id, '-n', NS]);
    process.stdout.write(`# seccomp profile for ${NS}/web, container main\n${profile}`);

    say('waiting for netpol monitor to finish');
    if ((await monitor.exited) !== 0) throw new Error('netpol monitor failed');
    say('kubectl harden netpol report --input net.log');
    const policy = await must(['netpol', 'report', '--input', netLog]);
    process.stdout.write(
      `# NetworkPolicy for ${NS}/web (from ${readFileSync(netLog, 'utf8').split('\n').length - 2} flow lines)\n${policy}`,
    );
  } finally {
    await deleteNamespace(NS).catch((e) => process.stderr.write(`cleanup: ${e}\n`));
    await harden(['undeploy', '--force', '--wait=false']);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`demo failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
