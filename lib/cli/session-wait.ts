import { HardenError } from '../errors';
import type { Io } from './context';
import type { Kube } from '../kube/client';
import { waitUntil } from '../kube/wait';
import { getSession } from '../session/client';
import type { SessionType } from '../session/types';

/** Aborts on Ctrl-C (and SIGTERM) while waiting, so the caller can say what state it left. */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** Waits until an agent has attached a program for the session, or it failed or timed out. */
export async function waitTracing(
  kube: Kube,
  namespace: string,
  id: string,
  type: SessionType,
  timeoutMs: number,
  io: Io,
  signal: AbortSignal,
) {
  await waitUntil(
    async () => {
      const s = await getSession(kube, namespace, id, type);
      const phase = s.status?.phase ?? 'Pending';
      if (phase === 'Failed') {
        throw new HardenError(
          `session "${id}" in namespace "${namespace}" failed: ${s.status?.message ?? 'no reason given'}`,
        );
      }
      return { done: phase === 'Tracing', progress: `waiting for the agents to start tracing (${phase})` };
    },
    {
      timeoutMs,
      intervalMs: 200,
      signal,
      onProgress: (l) => io.progress(l),
      onTimeout: () =>
        new HardenError(
          `no agent started tracing session "${id}" within ${timeoutMs / 1000}s (context "${kube.ctx.context}")`,
          'Check the agents with: kubectl harden status',
        ),
    },
  );
  io.done();
}
