import { SyscallRecords } from '../../../../../lib/agent/recorders/syscalls/record';

const who = {
  pod: 'p',
  podUID: 'u',
  container: 'c',
  containerID: 'id',
  recordedFromStart: true,
  filterSeen: true,
};

describe("an audit session's syscalls: in how many intervals, first and last seen", () => {
  test('each print that holds a number counts once per second; first and last are its prints', () => {
    let now = 1_700_000_000_000;
    const r = new SyscallRecords(undefined, { timed: true, now: () => now });
    r.add([{ cgroup: '7', nrs: [0, 43] }]);
    now += 400; // the other program of a switch printing the same interval: not counted again
    r.add([{ cgroup: '7', nrs: [43] }]);
    now += 1000;
    r.add([{ cgroup: '7', nrs: [43] }]);
    now += 5000;
    r.add([{ cgroup: '7', nrs: [43, 1] }]);
    r.settle('7', who);
    expect(r.container('id')).toEqual({
      syscalls: [0, 1, 43],
      seen: [
        [0, 1, 1_700_000_000, 1_700_000_000],
        [1, 1, 1_700_000_006, 1_700_000_006],
        [43, 3, 1_700_000_000, 1_700_000_006],
      ],
    });
  });

  test('kept across an agent restart, merged with what the new agent sees', () => {
    let now = 1_700_000_000_000;
    const first = new SyscallRecords(undefined, { timed: true, now: () => now });
    first.add([{ cgroup: '7', nrs: [43] }]);
    first.settle('7', who);
    now += 60_000;
    const second = new SyscallRecords(
      { containers: [{ ...who, ...first.container('id') }] },
      { timed: true, now: () => now },
    );
    second.add([{ cgroup: '9', nrs: [43] }]);
    second.settle('9', who);
    expect(second.container('id').seen).toEqual([[43, 2, 1_700_000_000, 1_700_000_060]]);
  });

  test('a session that does not ask keeps only the sets', () => {
    const r = new SyscallRecords();
    r.add([{ cgroup: '7', nrs: [43] }]);
    r.settle('7', who);
    expect(r.container('id')).toEqual({ syscalls: [43] });
  });

  test('a dropped cgroup leaves no times behind; malformed tuples from the status are skipped', () => {
    const r = new SyscallRecords(
      {
        containers: [
          {
            ...who,
            syscalls: [43],
            seen: [[43, 1, 5, 6], [1, 2] as unknown as [number, number, number, number]],
          },
        ],
      },
      { timed: true, now: () => 10_000 },
    );
    r.add([{ cgroup: '8', nrs: [2] }]);
    r.drop('8');
    expect(r.container('id').seen).toEqual([[43, 1, 5, 6]]);
  });
});
