// The agent under faults, as a user meets them: the agent is the DaemonSet pod `deploy` installs
// (from HARDEN_AGENT_IMAGE), workloads are real pods from real images run by kubelet + containerd,
// and every check goes through kubectl or `kubectl harden`. Sizes are env-overridable so a smaller
// run can come first: HARDEN_ROBUST_CHURN_PODS (300), HARDEN_ROBUST_SHORT_PODS (200),
// HARDEN_ROBUST_HANG_SECONDS (90), HARDEN_ROBUST_IDLE_SECONDS (30).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { harden, testenvEnv } from '../support/cluster';
import { kubectl, kubectlJson, runRaw } from '../support/exec';
import {
  FLUSH_S,
  HANG_S,
  IDLE_S,
  MKDIR,
  MKNODAT,
  NS,
  RMDIR,
  SHORT,
  SessionObject,
  agentLogs,
  agentPid,
  bpftraces,
  containersOf,
  namesOf,
  ok,
  podManifest,
  read,
  report,
  robustHooks,
  runBatches,
  sessionObject,
  sleep,
  testNode,
  until,
} from '../support/robust';

robustHooks();

test(`${SHORT} pods that each live about 0.5 s: every one is in its profile`, async () => {
  const id = (await ok(['seccomp', 'start', '-n', NS, '-l', 'app=short'])).trim();
  await runBatches(
    SHORT,
    20,
    (i) => podManifest(`short-${i}`, { app: 'short' }, 'mkfifo /tmp/f; sleep 0.5'),
    'short-batch',
  );
  await until(
    'the short-lived pods gone',
    () => kubectl(['get', 'pods', '-n', NS, '-l', 'app=short', '-o', 'name']),
    (out) => out.trim() === '',
    120_000,
  );
  // The last pods' sets arrive within a print interval, and are written within a flush interval.
  const expected = Array.from({ length: SHORT }, (_, i) => `short-${i}`);
  const unrecorded = (s: SessionObject) => {
    const nr = MKNODAT[s.status?.nodes?.[0]?.arch ?? 'amd64'];
    return expected.filter((name) => !containersOf(s).some((c) => c.pod === name && c.syscalls.includes(nr)));
  };
  const session = await until(
    'every pod recorded',
    () => sessionObject(id),
    (s) => !unrecorded(s).length,
    30_000,
  ).catch(() => sessionObject(id));
  const missing = unrecorded(session);
  report(`short-lived pods recorded with their mkfifo: ${SHORT - missing.length} of ${SHORT}`);
  expect(missing).toEqual([]);
  // Bare pods are their own workloads: one profile each, each naming the call.
  const dir = mkdtempSync(join(tmpdir(), 'harden-robust-short-'));
  const files = (await ok(['seccomp', 'stop', id, '-n', NS, '--output-dir', dir], 180_000))
    .trim()
    .split('\n');
  expect(files).toHaveLength(SHORT);
  for (const f of files) expect(namesOf(readFileSync(f, 'utf8'))).toContain('mknodat');
}, 3_600_000);

test('bpftrace killed mid-session: the gap is reported with its span, and stop says so', async () => {
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(podManifest('victim', { app: 'victim' }, 'sleep infinity')),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/victim', '--timeout=120s']);
  const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'victim'])).trim();
  await kubectl(['exec', '-n', NS, 'victim', '--', 'mkdir', '/tmp/before']);
  await sleep(2 * FLUSH_S * 1000);
  const pid = await agentPid();
  const victims = bpftraces(pid);
  expect(victims.length).toBeGreaterThan(0);
  const killedAt = Date.now();
  for (const b of victims) process.kill(b, 'SIGKILL');
  const withGap = await until(
    'the gap in the status',
    () => sessionObject(id),
    (s) => containersOf(s).some((c) => (c.gaps ?? []).length > 0),
  );
  const gap = containersOf(withGap).find((c) => c.gaps?.length)!.gaps![0];
  report(`gap after kill -9 of bpftrace: ${gap.from} -> ${gap.to} (${gap.reason})`);
  expect(gap.reason).toBe('BpftraceExited');
  // The same host's clock: the span holds the kill (1 s for the timestamps' resolution).
  expect(Date.parse(gap.from)).toBeLessThanOrEqual(killedAt + 1000);
  expect(Date.parse(gap.to)).toBeGreaterThanOrEqual(killedAt - 1000);
  await sleep(2 * FLUSH_S * 1000);
  await kubectl(['exec', '-n', NS, 'victim', '--', 'rmdir', '/tmp/before']);

  const arch = withGap.status?.nodes?.[0]?.arch ?? 'amd64';
  const refused = await harden(['seccomp', 'stop', id, '-n', NS]);
  expect(refused.code).not.toBe(0);
  expect(refused.stdout).toBe('');
  expect(refused.stderr).toContain(`victim/main was not traced from ${gap.from} to ${gap.to}`);
  expect(refused.stderr).toContain('--accept-gaps');
  const taken = await harden(['seccomp', 'stop', id, '-n', NS, '--accept-gaps']);
  expect(taken.code).toBe(0);
  expect(taken.stderr).toContain('victim/main was not traced');
  // What was made before the gap and after it is in the profile.
  const names = namesOf(taken.stdout);
  expect(names).toContain(MKDIR[arch]);
  expect(names).toContain(RMDIR[arch]);
  await kubectl(['delete', 'pod', 'victim', '-n', NS, '--wait=false']);
}, 600_000);

test(`the API server hangs for ${HANG_S} s: nothing is lost, and no gap is claimed`, async () => {
  // The workload acts on its own during the hang (kubectl exec needs the API server).
  const during = Math.round(HANG_S / 3);
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(
      podManifest('patient', { app: 'patient' }, `sleep ${during + 15}; mkfifo /tmp/during; sleep infinity`),
    ),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/patient', '--timeout=120s']);
  const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'patient'])).trim();
  await kubectl(['exec', '-n', NS, 'patient', '--', 'mkdir', '/tmp/before']);
  await sleep(2 * FLUSH_S * 1000);
  const apiserver = Number(read(join(testenvEnv().state, 'pids', 'kube-apiserver.pid')).trim());
  expect(apiserver).toBeGreaterThan(0);
  process.kill(apiserver, 'SIGSTOP');
  try {
    await sleep(HANG_S * 1000);
  } finally {
    process.kill(apiserver, 'SIGCONT');
  }
  await until(
    'the API server back',
    () => runRaw('kubectl', ['get', '--raw', '/readyz'], { env: testenvEnv().processEnv }),
    (r) => r.code === 0,
    120_000,
  );
  await kubectl(['exec', '-n', NS, 'patient', '--', 'rmdir', '/tmp/before']);
  const arch = (await sessionObject(id)).status?.nodes?.[0]?.arch ?? 'amd64';
  const r = await harden(['seccomp', 'stop', id, '-n', NS], { timeoutMs: 180_000 });
  expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
  expect(r.stderr).not.toContain('was not traced');
  expect(namesOf(r.stdout)).toEqual(expect.arrayContaining([MKDIR[arch], 'mknodat', RMDIR[arch]]));
  const logs = await agentLogs();
  report(
    `agent on the hang: ${logs
      .split('\n')
      .filter((l) => /watch|reconnect/.test(l))
      .slice(-4)
      .join(' | ')}`,
  );
  // The watches ask the server to end them after 60 s; 15 s more of silence means a dead connection.
  if (HANG_S > 75) expect(logs).toMatch(/no word from the API server/);
  await kubectl(['delete', 'pod', 'patient', '-n', NS, '--wait=false']);
  // The node went NotReady during the hang and its pods were marked not ready; the next test starts
  // from a healthy agent again (kubelet restores the condition on its next status sync).
  await kubectl([
    'wait',
    '-n',
    'harden-system',
    '--for=condition=Ready',
    'pod',
    '-l',
    'app.kubernetes.io/name=harden-agent',
    '--timeout=120s',
  ]);
}, 900_000);

test(`an idle session is written at most once per flush interval (watched for ${IDLE_S} s)`, async () => {
  await kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(podManifest('idle', { app: 'idle' }, 'sleep infinity')),
  });
  await kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/idle', '--timeout=120s']);
  const id = (await ok(['seccomp', 'start', '-n', NS, '-p', 'idle'])).trim();
  await kubectl(['exec', '-n', NS, 'idle', '--', 'mkdir', '/tmp/idle']);
  await sleep(3 * FLUSH_S * 1000); // the first sets and the Tracing phase are written
  // The agent writes its record, not the session: each write is a MODIFIED event of the record.
  const record = await kubectlJson<{ record: { node: string; phase: string } }>([
    'get',
    'tracerecord',
    `${id}.${testNode()}`,
    '-n',
    NS,
  ]);
  expect(record.record).toMatchObject({ node: testNode(), phase: 'Tracing' });
  const watch = await runRaw(
    'timeout',
    [
      String(IDLE_S),
      'kubectl',
      'get',
      'tracerecord',
      `${id}.${testNode()}`,
      '-n',
      NS,
      '--watch-only',
      '--output-watch-events',
      '-o',
      'json',
    ],
    { env: testenvEnv().processEnv, timeoutMs: (IDLE_S + 30) * 1000 },
  );
  expect(watch.code).toBe(124); // ended by `timeout`, not by an error
  const writes = (watch.stdout.match(/"type":\s*"MODIFIED"/g) ?? []).length;
  report(`status writes of an idle session in ${IDLE_S} s: ${writes} (flush interval ${FLUSH_S} s)`);
  expect(writes).toBeLessThanOrEqual(Math.floor(IDLE_S / FLUSH_S));
  expect(writes).toBeLessThanOrEqual(1);
  await ok(['seccomp', 'stop', id, '-n', NS]);
  await kubectl(['delete', 'pod', 'idle', '-n', NS, '--wait=false']);
}, 300_000);
