import { syscallsFromMaps } from '../../../../../lib/agent/recorders/syscalls/parse';
import { SyscallRecords } from '../../../../../lib/agent/recorders/syscalls/record';

const who = {
  pod: 'p',
  podUID: 'u',
  container: 'c',
  containerID: 'id',
  recordedFromStart: true,
  filterSeen: false,
};

describe("a seccomp session's record of the container's life", () => {
  test('life map entries become events of their cgroup; malformed ones are dropped', () => {
    const events = syscallsFromMaps({
      '@sc0': { '7,0': 1 },
      '@sl1': { '7,1,0': 2, '7,2,0': 3, '8,3,768': 1, '7,9,0': 1, 'x,1,0': 1 },
    });
    expect(events).toEqual([
      {
        cgroup: '7',
        nrs: [0],
        life: [
          { what: 'stopSignal', value: 0, count: 2 },
          { what: 'execIn', value: 0, count: 3 },
        ],
      },
      { cgroup: '8', nrs: [], life: [{ what: 'exit', value: 768, count: 1 }] },
    ]);
  });

  test('settled into the container record, kept across a restart of the agent', () => {
    const first = new SyscallRecords();
    first.add(syscallsFromMaps({ '@sl0': { '8,2,0': 1 } }));
    expect(first.pendingCgroups()).toEqual(['8']);
    first.settle('8', who);
    const second = new SyscallRecords({ containers: [{ ...who, ...first.container('id') }] });
    second.add(syscallsFromMaps({ '@sl0': { '9,1,0': 1, '9,3,15': 1 } }));
    second.settle('9', who);
    expect(second.container('id')).toEqual({
      syscalls: [],
      life: { execProcesses: 1, stopSignals: 1, entrypointExit: 15 },
    });
  });
});
