// The agent under faults, as a user meets them: the agent is the DaemonSet pod `deploy` installs
// (from HARDEN_AGENT_IMAGE), workloads are real pods from real images run by kubelet + containerd,
// and every check goes through kubectl or `kubectl harden`. Sizes are env-overridable so a smaller
// run can come first: HARDEN_ROBUST_CHURN_PODS (300), HARDEN_ROBUST_SHORT_PODS (200),
// HARDEN_ROBUST_HANG_SECONDS (90), HARDEN_ROBUST_IDLE_SECONDS (30).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectl } from '../support/exec';
import {
  CHURN,
  FLUSH_S,
  NS,
  WARM,
  agentLogs,
  agentPid,
  mib,
  ok,
  podManifest,
  report,
  robustHooks,
  rssKiB,
  runBatches,
  sampler,
  sleep,
} from '../support/robust';

robustHooks();

test(`${CHURN} pods of churn under an -l session: agent memory is flat afterwards, at most two programs, small seeds after`, async () => {
  const pid = await agentPid();
  // Warm-up: a small churn of the same shape, so the code every churn runs (and the node binary's
  // pages it touches) is loaded before the baseline; what the big churn adds on top is what it keeps.
  const warm = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=warm'])).trim();
  await runBatches(
    WARM,
    10,
    (i) => podManifest(`warm-${i}`, { app: i % 3 === 2 ? 'other' : 'warm' }, 'mkfifo /tmp/f; sleep 1'),
    'warm-batch',
  );
  const warmDir = mkdtempSync(join(tmpdir(), 'harden-robust-warm-'));
  await ok(['seccomp', 'stop', warm, '-n', NS, '--output-dir', warmDir], 180_000);
  await sleep(15_000); // as after the churn below
  const before = rssKiB(pid);
  const anonBefore = rssKiB(pid, 'RssAnon');

  const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=churn'])).trim();
  const s = sampler(pid);
  // Two in three pods match the session; the others are churn it must ignore.
  await runBatches(
    CHURN,
    10,
    (i) => podManifest(`churn-${i}`, { app: i % 3 === 2 ? 'other' : 'churn' }, 'mkfifo /tmp/f; sleep 1'),
    'churn-batch',
  );
  const during = s.stop();
  const dir = mkdtempSync(join(tmpdir(), 'harden-robust-churn-'));
  await ok(['seccomp', 'stop', id, '-n', NS, '--output-dir', dir], 180_000);
  await sleep(15_000); // two print intervals, a flush, and the forgetting of what is gone
  const after = rssKiB(pid);
  report(
    `agent RSS: before ${mib(before)}, peak during churn ${mib(during.maxRss)}, after ${mib(after)} ` +
      `(anonymous: ${mib(anonBefore)} -> ${mib(rssKiB(pid, 'RssAnon'))}) ` +
      `(${(((after - before) / before) * 100).toFixed(1)} %); most bpftrace at once: ${during.maxPrograms}`,
  );
  expect(during.maxPrograms).toBeLessThanOrEqual(2);
  expect(after).toBeLessThanOrEqual(before * 1.1);
  // What the agent remembers once nothing is traced: no cgroup, no deleted pod.
  const forgot = [...(await agentLogs()).matchAll(/forgot .*; now (\{.*\})/g)];
  const memory = JSON.parse(forgot[forgot.length - 1]?.[1] ?? '{}') as Record<string, number>;
  report(`agent memory after the churn session: ${JSON.stringify(memory)}`);
  expect(memory).toMatchObject({ cgroups: 0, gonePods: 0 });

  // A new session's program carries only its own target's cgroup, not the churn's.
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(podManifest('after', { app: 'after' }, 'sleep infinity')),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/after', '--timeout=120s']);
  const next = (await ok(['seccomp', 'start', '-n', NS, '-p', 'after'])).trim();
  const attached = [...(await agentLogs()).matchAll(/program \d+ attached \(pid \d+\): (\d+) cgroups/g)];
  const seeds = Number(attached[attached.length - 1]?.[1]);
  report(`seeds of the first program after the churn: ${seeds}`);
  expect(seeds).toBeLessThanOrEqual(2);
  await kubectl(['exec', '-n', NS, 'after', '--', 'mkdir', '/tmp/after']);
  await sleep(2 * FLUSH_S * 1000);
  await ok(['seccomp', 'stop', next, '-n', NS]);
  await kubectl(['delete', 'pod', 'after', '-n', NS, '--wait=false']);
}, 3_600_000);
