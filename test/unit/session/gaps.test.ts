import { describeGap, gapsOf, withGap } from '../../../lib/session/gaps';
import { MAX_GAPS, type Gap, type TraceSession } from '../../../lib/session/types';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
const gap = (from: number, to: number, reason: Gap['reason'] = 'BpftraceExited'): Gap => ({
  from: at(from),
  to: at(to),
  reason,
});

describe('withGap', () => {
  test('keeps gaps sorted and joins overlapping ones', () => {
    let list = withGap(undefined, gap(10, 12));
    list = withGap(list, gap(1, 2, 'AgentRestarted'));
    list = withGap(list, gap(11, 15));
    expect(list).toEqual([gap(1, 2, 'AgentRestarted'), gap(10, 15)]);
    expect(withGap(list, gap(2, 10, 'ProgramSwitch'))).toEqual([
      { from: at(1), to: at(15), reason: 'Several' },
    ]);
  });

  test('beyond the bound, the closest neighbours merge: the span only grows, nothing is dropped', () => {
    let list: Gap[] = [];
    for (let i = 0; i < MAX_GAPS; i++) list = withGap(list, gap(i * 10, i * 10 + 1));
    list = withGap(list, gap(1000, 1001));
    list = withGap(list, gap(44, 45));
    expect(list).toHaveLength(MAX_GAPS);
    // 40-41 and 44-45 were the closest pair.
    expect(list).toContainEqual(gap(40, 45));
    expect(list[0].from).toBe(at(0));
    expect(list[list.length - 1].to).toBe(at(1001));
  });
});

test('gapsOf names containers, then nodes; describeGap says where, when, how long and why', () => {
  const s = {
    metadata: { name: 's', namespace: 'ns' },
    status: {
      nodes: [
        {
          node: 'n1',
          arch: 'amd64',
          agentVersion: 'x',
          lastFlush: at(0),
          final: true,
          gaps: [gap(3, 5)],
          containers: [
            {
              pod: 'web-1',
              podUID: 'u',
              container: 'nginx',
              containerID: 'c',
              syscalls: [],
              recordedFromStart: true,
              filterSeen: false,
              gaps: [gap(3, 5), gap(20, 21.5, 'AgentRestarted'), gap(30, 32, 'MapFull')],
            },
          ],
        },
      ],
    },
  } as unknown as TraceSession;
  expect(gapsOf(s).map((g) => describeGap(g))).toEqual([
    `web-1/nginx was not traced from ${at(3)} to ${at(5)} (2.0 s): bpftrace exited and was restarted`,
    `web-1/nginx was not traced from ${at(20)} to ${at(21.5)} (1.5 s): the node agent was not running`,
    `web-1/nginx may miss syscalls from ${at(30)} to ${at(32)} (2.0 s): the node made more new syscalls in one interval than the agent's kernel map holds`,
    `node n1 traced nothing (pods that ran only then are not in the profile) from ${at(3)} to ${at(5)} (2.0 s): bpftrace exited and was restarted`,
  ]);
});
