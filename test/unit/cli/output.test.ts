import { load, loadAll } from 'js-yaml';
import { printObject, renderTable, toYamlDocuments, useColour } from '../../../lib/cli/output';

const tty = { isTTY: true } as NodeJS.WriteStream;
const pipe = { isTTY: false } as NodeJS.WriteStream;

describe('printers', () => {
  test('a table has kubectl layout: upper-case headers, aligned columns, no borders, no colour on a pipe', () => {
    const text = renderTable(
      ['node', 'ready'],
      [
        ['worker-1', 'true'],
        ['w2', 'false'],
      ],
      useColour(pipe, {}),
    );
    expect(text).toBe('NODE       READY\nworker-1   true\nw2         false\n');
    expect(text).not.toContain('\u001b[');
  });

  test('colour only on a terminal, and never with NO_COLOR or TERM=dumb', () => {
    expect(useColour(tty, {})).toBe(true);
    expect(useColour(tty, { NO_COLOR: '' })).toBe(false);
    expect(useColour(tty, { TERM: 'dumb' })).toBe(false);
    expect(useColour(pipe, {})).toBe(false);
    expect(renderTable(['a'], [['1']], true)).toContain('\u001b[1mA\u001b[0m');
  });

  test('json and yaml print the same object', () => {
    const obj = { kind: 'List', items: [{ name: 'a', n: 1 }] };
    expect(JSON.parse(printObject(obj, 'json'))).toEqual(obj);
    expect(load(printObject(obj, 'yaml'))).toEqual(obj);
  });

  test('several objects become a multi-document YAML stream', () => {
    const docs = [{ kind: 'A' }, { kind: 'B' }];
    const text = toYamlDocuments(docs);
    expect(text.startsWith('---\n')).toBe(true);
    expect(loadAll(text)).toEqual(docs);
  });
});

describe('YAML for YAML 1.1 readers (kubectl reads through go-yaml)', () => {
  const tricky = [
    '2024_05_01',
    'yes',
    'no',
    'on',
    'off',
    'y',
    'N',
    '0x1f',
    '0o17',
    '012',
    '1e3',
    '1_000',
    '1:20',
    '.5',
    '-1',
    '.inf',
    '~',
    'null',
    '<<',
  ];

  it.each(tricky)('quotes %s', (v) => {
    expect(printObject({ v }, 'yaml')).toBe(`v: '${v}'\n`);
  });

  it('leaves ordinary strings plain', () => {
    expect(printObject({ a: 'web', b: 'TCP', c: 'v1.2', d: 'k8s-app', e: 'a b' }, 'yaml')).toBe(
      'a: web\nb: TCP\nc: v1.2\nd: k8s-app\ne: a b\n',
    );
  });

  it('keeps numbers and booleans what they are', () => {
    expect(printObject({ port: 53, t: true }, 'yaml')).toBe('port: 53\nt: true\n');
  });
});
