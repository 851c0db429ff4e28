/**
 * Labels and label selectors (metav1.LabelSelector), once for every layer: the session's target,
 * the flow log's workloads, policy synthesis, verify and the agent all select pods alike. Pure.
 *
 * - `parseSelector`: kubectl's `-l` text (`app=web,tier in (a,b),!debug`) into a LabelSelector;
 * - `compileSelector`: an untrusted selector object validated as the API server does;
 * - `selectorMatches`: the one matcher; `selectorText`: the text form back, for queries and messages.
 */

export type Labels = Record<string, string>;

/** A matchExpression's operators, as the API server takes them (the CRD and the flow log check these). */
export const SELECTOR_OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

export interface LabelSelectorRequirement {
  key: string;
  operator: (typeof SELECTOR_OPERATORS)[number];
  values?: string[];
}

/** matchLabels and matchExpressions AND together; an empty selector matches everything. */
export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: LabelSelectorRequirement[];
}

/** A validated selector, ready to match. */
export interface Selector {
  /** Every label key the selector looks at, so a caller can tell when labels it lacks would matter. */
  keys: string[];
  matches(labels: Labels): boolean;
  /** kubectl's text form (app=web,tier in (a,b),!debug), for messages. */
  text: string;
}

const has = (labels: Labels, key: string) => Object.hasOwn(labels, key);

/** Whether the labels satisfy the selector, as the API server decides it. */
export function selectorMatches(selector: LabelSelector, labels: Labels = {}): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
    if (!has(labels, k) || labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const present = has(labels, e.key);
    const listed = present && (e.values ?? []).includes(labels[e.key]);
    if (e.operator === 'In' && !listed) return false;
    if (e.operator === 'NotIn' && listed) return false;
    if (e.operator === 'Exists' && !present) return false;
    if (e.operator === 'DoesNotExist' && present) return false;
  }
  return true;
}

/** kubectl's text form: what `-l` takes and what the API's labelSelector query parameter reads. */
export function selectorText(selector: LabelSelector): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = [...new Set(e.values ?? [])].join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Why key is not a valid label key (prefix/name), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)))
    return `label key "${key}": the prefix must be a DNS subdomain`;
  if (name.length === 0 || name.length > 63 || !NAME.test(name))
    return `label key "${key}": the name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`;
  return undefined;
}

/** Why value is not a valid value of label `key`, or undefined. */
export function labelValueProblem(key: string, value: unknown): string | undefined {
  if (typeof value !== 'string') return `label "${key}": the value must be a string`;
  if (value === '') return undefined;
  if (value.length > 63 || !NAME.test(value))
    return `label "${key}": value "${value}" must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`;
  return undefined;
}

/** A compiled selector, or the reason the API server would refuse it. `raw` is untrusted input. */
export function compileSelector(raw: unknown): Selector | string {
  if (raw === undefined || raw === null) return compileSelector({});
  if (typeof raw !== 'object' || Array.isArray(raw)) return 'a label selector must be an object';
  const { matchLabels = {}, matchExpressions = [] } = raw as Record<string, unknown>;
  if (typeof matchLabels !== 'object' || matchLabels === null || Array.isArray(matchLabels))
    return 'matchLabels must be a map of label keys to values';
  if (!Array.isArray(matchExpressions)) return 'matchExpressions must be a list';
  for (const [k, v] of Object.entries(matchLabels as Record<string, unknown>)) {
    const problem = labelKeyProblem(k) ?? labelValueProblem(k, v);
    if (problem) return `matchLabels: ${problem}`;
  }
  for (const [i, e] of matchExpressions.entries()) {
    const at = `matchExpressions[${i}]`;
    if (typeof e !== 'object' || e === null) return `${at}: must be an object`;
    const { key, operator, values } = e as Record<string, unknown>;
    if (typeof key !== 'string') return `${at}: key must be a string`;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) return `${at}: ${keyProblem}`;
    if (!SELECTOR_OPERATORS.includes(operator as (typeof SELECTOR_OPERATORS)[number]))
      return `${at}: operator ${JSON.stringify(operator)} is not one of ${SELECTOR_OPERATORS.join(', ')}`;
    if (values !== undefined && !Array.isArray(values)) return `${at}: values must be a list`;
    const list = (values ?? []) as unknown[];
    const needsValues = operator === 'In' || operator === 'NotIn';
    if (needsValues && list.length === 0)
      return `${at}: operator ${String(operator)} needs at least one value`;
    if (!needsValues && list.length > 0) return `${at}: operator ${String(operator)} takes no values`;
    for (const v of list) {
      const problem = labelValueProblem(key, v);
      if (problem) return `${at}: ${problem}`;
    }
  }
  const selector = raw as LabelSelector;
  const keys = [
    ...new Set([
      ...Object.keys(selector.matchLabels ?? {}),
      ...(selector.matchExpressions ?? []).map((e) => e.key),
    ]),
  ];
  return {
    keys,
    matches: (labels) => selectorMatches(selector, labels),
    text: selectorText(selector) || '(all)',
  };
}

/** kubectl's selector tokens: operators, parentheses, commas, and words (keys and values). */
const TOKEN = /\s*(!=|==|=|!|\(|\)|,|<|>|[^\s!=(),<>]+)/y;

/**
 * kubectl's `-l` syntax into a LabelSelector, as `metav1.ParseToLabelSelector` does: `k=v`, `k==v`
 * (matchLabels), `k!=v` (NotIn), `k in (a,b)`, `k notin (a,b)`, `k` (Exists), `!k` (DoesNotExist),
 * comma-separated. Returns why the text is not a selector when it is not one.
 */
export function parseSelector(text: string): LabelSelector | string {
  const tokens: string[] = [];
  let read = 0;
  for (TOKEN.lastIndex = 0; ;) {
    const m = TOKEN.exec(text);
    if (!m) break;
    tokens.push(m[1]);
    read = TOKEN.lastIndex;
  }
  if (text.slice(read).trim()) return `cannot read "${text.slice(read).trim()}"`;
  if (!tokens.length) return 'an empty selector selects every pod; name a label';
  const matchLabels: Labels = {};
  const matchExpressions: LabelSelectorRequirement[] = [];
  let i = 0;
  const word = () =>
    i < tokens.length && !/^(!=|==|=|!|\(|\)|,|<|>)$/.test(tokens[i]) ? tokens[i] : undefined;
  const expect = (t: string, what: string): string | undefined =>
    tokens[i] === t ? (i++, undefined) : `expected ${what} after "${tokens[i - 1]}"`;
  const values = (key: string): string[] | string => {
    const problem = expect('(', `"(" and a list of values`);
    if (problem) return problem;
    const out: string[] = [];
    for (;;) {
      const v = word() ?? '';
      if (v) i++;
      out.push(v);
      if (tokens[i] === ',') i++;
      else break;
    }
    const close = expect(')', '")"');
    if (close) return close;
    if (out.length === 1 && out[0] === '') return `"${key}": in and notin need at least one value`;
    return out;
  };
  while (i < tokens.length) {
    let requirement: LabelSelectorRequirement | undefined;
    if (tokens[i] === '!') {
      i++;
      const key = word();
      if (!key) return 'expected a label key after "!"';
      i++;
      requirement = { key, operator: 'DoesNotExist' };
    } else {
      const key = word();
      if (!key) return `expected a label key, got "${tokens[i]}"`;
      i++;
      const op = tokens[i];
      if (op === '=' || op === '==' || op === '!=') {
        i++;
        const value = word() ?? '';
        if (value) i++;
        const problem = labelValueProblem(key, value);
        if (problem) return problem;
        if (op === '!=') requirement = { key, operator: 'NotIn', values: [value] };
        else if (has(matchLabels, key) && matchLabels[key] !== value)
          return `label "${key}" is given two values ("${matchLabels[key]}", "${value}"): no pod has both`;
        else {
          const problem = labelKeyProblem(key);
          if (problem) return problem;
          matchLabels[key] = value;
        }
      } else if (op === 'in' || op === 'notin') {
        i++;
        const list = values(key);
        if (typeof list === 'string') return list;
        for (const v of list) {
          const problem = labelValueProblem(key, v);
          if (problem) return problem;
        }
        requirement = { key, operator: op === 'in' ? 'In' : 'NotIn', values: list };
      } else if (op === '<' || op === '>') {
        return `"${key} ${op}": comparisons are not supported in label selectors`;
      } else requirement = { key, operator: 'Exists' };
    }
    if (requirement) {
      const problem = labelKeyProblem(requirement.key);
      if (problem) return problem;
      matchExpressions.push(requirement);
    }
    if (i < tokens.length) {
      const problem = expect(',', '","');
      if (problem) return problem;
      if (i === tokens.length) return 'a trailing "," names no requirement';
    }
  }
  return {
    ...(Object.keys(matchLabels).length ? { matchLabels } : {}),
    ...(matchExpressions.length ? { matchExpressions } : {}),
  };
}
