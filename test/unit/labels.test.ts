import {
  compileSelector,
  parseSelector,
  selectorMatches,
  selectorText,
  type LabelSelector,
} from '../../lib/labels';

describe("parseSelector: kubectl's -l syntax", () => {
  test.each([
    ['app=web', { matchLabels: { app: 'web' } }],
    ['app==web, tier = front', { matchLabels: { app: 'web', tier: 'front' } }],
    ['app=', { matchLabels: { app: '' } }],
    ['tier!=db', { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] }],
    [
      'app in (a, b),env notin (dev)',
      {
        matchExpressions: [
          { key: 'app', operator: 'In', values: ['a', 'b'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
        ],
      },
    ],
    ['example.com/team', { matchExpressions: [{ key: 'example.com/team', operator: 'Exists' }] }],
    [' !canary ', { matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }],
    [
      'app=web,!canary',
      { matchLabels: { app: 'web' }, matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] },
    ],
  ] as [string, LabelSelector][])('%j', (text, selector) => {
    expect(parseSelector(text)).toEqual(selector);
    // What selectorText prints (the API's labelSelector query) reads back the same.
    expect(parseSelector(selectorText(selector))).toEqual(selector);
  });

  test.each([
    ['', 'empty selector'],
    ['app in (a', 'expected ")" after "a"'],
    ['app in ()', 'need at least one value'],
    ['app notin a', 'expected "(" and a list of values after "notin"'],
    ['app > 3', 'comparisons are not supported'],
    ['app=a,app=b', 'label "app" is given two values'],
    ['app=web,', 'trailing ","'],
    ['app=web tier=x', 'expected "," after "web"'],
    ['!', 'expected a label key after "!"'],
    ['x_=y', 'label key "x_"'],
    ['app=-x', 'value "-x"'],
    ['UPPER.example.com/x', 'the prefix must be a DNS subdomain'],
  ])('%j is refused: %s', (text, problem) => {
    const parsed = parseSelector(text);
    expect(typeof parsed).toBe('string');
    expect(parsed).toContain(problem);
  });
});

describe('selectorMatches: the one matcher', () => {
  const sel = parseSelector('app in (web,api),tier!=db,!canary,team') as Exclude<
    ReturnType<typeof parseSelector>,
    string
  >;
  test.each([
    [{ app: 'web', team: 'x' }, true],
    [{ app: 'api', team: 'x', tier: 'front' }, true],
    [{ app: 'web', team: 'x', tier: 'db' }, false],
    [{ app: 'web', team: 'x', canary: '' }, false],
    [{ app: 'web' }, false],
    [{ app: 'db', team: 'x' }, false],
  ])('%j → %s', (labels, expected) => {
    expect(selectorMatches(sel, labels)).toBe(expected);
    // A validated selector matches through the same function.
    const compiled = compileSelector(sel);
    expect(typeof compiled !== 'string' && compiled.matches(labels)).toBe(expected);
  });

  test('an empty selector matches every pod; a key from the prototype is no label', () => {
    expect(selectorMatches({}, {})).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'constructor', operator: 'Exists' }] }, {})).toBe(
      false,
    );
    expect(selectorMatches({ matchLabels: { toString: 'x' } }, {})).toBe(false);
  });
});
