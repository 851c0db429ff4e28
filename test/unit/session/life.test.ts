import { execProbesOf, missedLife as missed, runsToCompletion } from '../../../lib/session/life';
import type { ContainerSpec } from '../../../lib/securitycontext/types';
import * as f from '../securitycontext/fixtures';

const spec: ContainerSpec = { name: 'app', readinessProbe: { exec: { command: ['pg_isready'] } } };
const probed = execProbesOf(spec);
const TERMS = { result: 'advice', shutdownNeeds: 'CAP_KILL' };
const missedLife = (records: Parameters<typeof missed>[0], probes: string[] = []) =>
  missed(records, probes, TERMS);
const withLife = (life: NonNullable<typeof f.nginxRoot.life>) => ({ ...f.nginxRoot, life });

describe("a container's life as recorded", () => {
  test('start-up seen, nothing else: shutdown not observed, and what that risks', () => {
    const missed = missedLife([f.nginxRoot]);
    expect(missed).toHaveLength(1);
    expect(missed[0]).toMatch(
      /^shutdown \(stop signal to exit\) not observed: no instance stopped while traced;/,
    );
    expect(missed[0]).toContain('wait out its grace period');
  });

  test("the image's STOPSIGNAL (nginx: SIGQUIT) ends it: a whole life too", () => {
    expect(missedLife([withLife({ execProcesses: 0, stopSignals: 0, entrypointExit: 3 })])).toEqual([]);
  });

  test('a handled SIGTERM then exit 0, or death by SIGTERM itself: the whole life', () => {
    expect(missedLife([withLife({ execProcesses: 0, stopSignals: 1, entrypointExit: 0 })])).toEqual([]);
    expect(missedLife([withLife({ execProcesses: 0, stopSignals: 0, entrypointExit: 15 })])).toEqual([]);
  });

  test('SIGKILLed (grace period out, or --grace-period=0), or exited by itself: said so', () => {
    expect(missedLife([withLife({ execProcesses: 0, stopSignals: 1, entrypointExit: 9 })])[0]).toContain(
      'its entrypoint was SIGKILLed',
    );
    expect(missedLife([withLife({ execProcesses: 0, stopSignals: 0, entrypointExit: 1 << 8 })])[0]).toContain(
      'exited without a stop signal',
    );
  });

  test('an init container that is no sidecar ends by itself: no shutdown to miss; a sidecar has one', () => {
    const pod = {
      initContainers: [{ name: 'migrate' }, { name: 'proxy', restartPolicy: 'Always' }],
    };
    expect(runsToCompletion(pod, 'migrate')).toBe(true);
    expect(runsToCompletion(pod, 'proxy')).toBe(false);
    expect(runsToCompletion(pod, 'app')).toBe(false);
    const exited = withLife({ execProcesses: 0, stopSignals: 0, entrypointExit: 0 });
    expect(missed([exited], [], { ...TERMS, runsToCompletion: true })).toEqual([]);
    expect(missed([exited], [], TERMS)[0]).toContain('exited without a stop signal');
  });

  test('an exec probe in the spec that never ran while traced is named; one that ran is not', () => {
    const full = { execProcesses: 0, stopSignals: 0, entrypointExit: 15 };
    expect(missedLife([withLife(full)], probed)).toEqual([
      expect.stringContaining(
        "its readinessProbe runs a command in the container, but no process exec'd into it",
      ),
    ]);
    expect(missedLife([withLife({ ...full, execProcesses: 3 })], probed)).toEqual([]);
  });

  test('a container already running when the session started: its start-up is named; a replica rolled out speaks for it', () => {
    expect(missedLife([f.redisLate])[0]).toMatch(/^start-up not observed/);
    const rolled = { ...f.redisReplicas[1], life: { execProcesses: 0, stopSignals: 1, entrypointExit: 0 } };
    expect(missedLife([f.redisLate, rolled])).toEqual([]);
  });
});
