import { privilegesFromMaps, type PrivilegeEvent } from '../../../../../lib/agent/recorders/privileges/parse';
import { PrivilegeTable } from '../../../../../lib/agent/recorders/privileges/record';
import { parseOutputLine, recordedBy } from '../../../../support/programs';
import { expectGolden, goldenJson } from '../../../golden';

// Lines as bpftrace 0.17 printed them for this program on Linux 6.18 (trimmed to a few keys).
const LINES = [
  '{"type": "map", "data": {"@capc0": {"7,21,0,0,9,0": 139, "7,10,1,0,49,0": 1, "7,6,1,0,106,0": 2, "7,21,1,1,439,0": 1, "7,21,0,0,-1,0": 2, "7,7,1,0,105,1": 3}}}',
  '{"type": "map", "data": {"@cred1": {"7,0,0,0,0,2199006478335,0": 4, "7,33,33,33,33,0,0": 2, "7,1000,1000,1000,1000,0,1": 3}}}',
  '{"type": "map", "data": {"@setid0": {"7,105,33,-1,-1,0,0": 2, "7,116,1,-1,-1,0,0": 2, "7,105,0,-1,-1,-1,0": 1, "7,105,1000,-1,-1,0,1": 3}}}',
  '{"type": "map", "data": {"@xcred0": {"7,1000,0,1000,1000,0,8192,/usr/bin/su,do": 1}}}',
  '{"type": "map", "data": {"@prd0": {"7,416,0,42,/etc/shadow": 3}}}',
  '{"type": "map", "data": {"@lbind0": {"7,80,0,1": 2, "7,1024,0,1": 1}, "@pstart1": {"7,0": 3}}}',
  '{"type": "map", "data": {"@life0": {"7,1,0": 1, "7,2,0": 4, "7,3,0": 1, "7,4,0": 1}}}',
  '{"type": "map", "data": {"@wr1": {"7,257,1,0,/run/nginx.pid": 1, "7,83,2,0,/var/cache/nginx/client_temp": 1, "7,257,0,0,/dev/null": 3, "9,257,1,0,/other": 1}}}',
];

const who = {
  pod: 'p',
  podUID: 'u',
  container: 'c',
  containerID: 'id',
  recordedFromStart: true,
  filterSeen: false,
};
const privileges = (e: ReturnType<typeof parseOutputLine>[number]) =>
  recordedBy<PrivilegeEvent>('capabilities', e);

/** One absolute openat write, by default on the root filesystem. */
const write = (
  cgroup: string,
  path: string,
  rootfs: 'yes' | 'no' | 'unknown' = 'yes',
  nr = 257,
): PrivilegeEvent => ({
  cgroup,
  count: 1,
  kind: 'write',
  nr,
  rootfs,
  dir: '0',
  path,
});

describe('capabilities output', () => {
  test('map lines become privilege events; malformed keys are dropped', () => {
    const events = LINES.flatMap(parseOutputLine);
    expect(events.every((e) => e.kind === 'recorded' && e.recorder === 'capabilities')).toBe(true);
    const all = events.flatMap(privileges);
    expect(all).toHaveLength(24);
    expect(privilegesFromMaps({ '@capc0': { 'x,1,1,0,2,0': 1, '7,1': 1 }, '@other': { '7': 1 } })).toEqual(
      [],
    );
    // The runtime's part of an exec'd process is told apart in every map that carries it.
    expect(all.filter((e) => 'runtime' in e && e.runtime).map((e) => e.kind)).toEqual([
      'check',
      'cred',
      'setid',
    ]);
  });

  test('the table settles events per container, names capabilities and syscalls, and sorts', () => {
    const table = new PrivilegeTable('amd64');
    table.add(LINES.flatMap(parseOutputLine).flatMap(privileges));
    expect(table.pendingCgroups().sort()).toEqual(['7', '9']);
    table.settle('7', {
      pod: 'web-1',
      podUID: 'u1',
      workload: 'web',
      container: 'nginx',
      containerID: 'containerd://abc',
      recordedFromStart: true,
      filterSeen: false,
      spec: { name: 'nginx', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
    });
    table.drop('9');
    expect(table.pendingCgroups()).toEqual([]);
    expectGolden('agent-caps/privilege-record.json', goldenJson(table.containers()));
  });

  test('a relative write is spelled out from its directory chain (0.23 prints kernel addresses signed)', () => {
    const lines = [
      '{"type": "map", "data": {"@wr0": {"7,257,1,-1001,temp-9.rdb": 1, "7,257,1,-2001,lost.txt": 1}}}',
      '{"type": "map", "data": {"@dn0": {"-1001": "redis", "-1002": "lib", "-1003": "var", "-1000": "/", "-2001": "deep"}}}',
      '{"type": "map", "data": {"@dp0": {"-1001,-1002": 1, "-1002,-1003": 1, "-1003,-1000": 1, "-1000,-1000": 1, "-2001,-2002": 1}}}',
    ];
    const table = new PrivilegeTable('amd64');
    table.add(lines.flatMap(parseOutputLine).flatMap(privileges));
    table.settle('7', who);
    expect(table.containers()[0].writes.map((w) => w.path)).toEqual([
      '/var/lib/redis/temp-9.rdb',
      'lost.txt',
    ]);
  });

  test('bounded: entries beyond the cap set truncated, counts of kept entries stay exact', () => {
    const table = new PrivilegeTable('amd64', 2);
    table.add([write('7', '/a'), write('7', '/b'), write('7', '/c'), write('7', '/a')]);
    table.settle('7', who);
    const [rec] = table.containers();
    expect(rec.writes.map((w) => [w.path, w.count])).toEqual([
      ['/a', 2],
      ['/b', 1],
    ]);
    expect(rec.truncated).toBe(true);
  });

  test('writes into volumes are bounded apart: however many, they cannot crowd out a root filesystem write', () => {
    const table = new PrivilegeTable('amd64', 2);
    const data = (p: string) => write('7', p, 'no');
    const mkdirAbs = (p: string) => write('7', p, 'unknown', 83);
    table.add([data('/data/1'), data('/data/2'), mkdirAbs('/data/d'), data('/data/3')]);
    table.add([write('7', '/var/run/app.lock'), mkdirAbs('/var/lib/app')]);
    table.settle('7', { ...who, spec: { name: 'c', volumeMounts: [{ name: 'data', mountPath: '/data' }] } });
    const [rec] = table.containers();
    expect(rec.writes.map((w) => w.path)).toEqual(['/var/lib/app', '/var/run/app.lock']);
    expect(rec.volumeWrites?.map((w) => w.path)).toEqual(['/data/1', '/data/2']);
    // Which list hit its bound is said, so advice that depends on another still stands.
    expect(rec.truncatedLists).toEqual(['volumeWrites']);
    expect(rec.truncated).toBe(true);
  });

  test('events beyond the bound while a cgroup waits for its identity are dropped, and its record says which lists', () => {
    const table = new PrivilegeTable('amd64', 1);
    table.add([write('7', '/a'), write('7', '/b'), write('7', '/c'), write('7', '/d'), write('7', '/e')]);
    table.add([{ cgroup: '7', count: 1, kind: 'setid', nr: 105, args: [1], result: 0, runtime: false }]);
    table.settle('7', who);
    const [rec] = table.containers();
    expect(rec.truncatedLists).toEqual(['idChanges', 'writes']);
  });

  test("bounded per node too: a new container's entries stop once the node's budget is spent", () => {
    const table = new PrivilegeTable('amd64', 10, 3);
    table.add([write('7', '/a'), write('7', '/b'), write('8', '/c'), write('8', '/d'), write('8', '/c')]);
    table.settle('7', who);
    table.settle('8', { ...who, containerID: 'id2' });
    const [first, second] = table.containers();
    expect(first.writes).toHaveLength(2);
    expect(second.writes.map((w) => [w.path, w.count])).toEqual([['/c', 2]]);
    expect([first.truncated, second.truncated]).toEqual([undefined, true]);
    expect(second.truncatedLists).toEqual(['writes']);
  });

  test('a restarted agent seeds its earlier records and keeps counting', () => {
    const first = new PrivilegeTable('amd64');
    first.add([{ cgroup: '7', count: 2, kind: 'setid', nr: 105, args: [33], result: 0, runtime: false }]);
    first.settle('7', who);
    const second = new PrivilegeTable('amd64');
    second.seed(first.containers());
    second.add([{ cgroup: '8', count: 1, kind: 'setid', nr: 105, args: [33], result: 0, runtime: false }]);
    second.settle('8', who);
    expect(second.containers()[0].idChanges).toEqual([
      { syscall: 'setuid', args: [33], result: 0, count: 3 },
    ]);
  });
});
