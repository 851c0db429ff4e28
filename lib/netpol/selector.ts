import type { Labels } from './log';

/**
 * metav1.LabelSelector as the API server validates and matches it: matchLabels and matchExpressions
 * AND together; an empty selector matches everything.
 */
export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

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

function labelValueProblem(key: string, value: unknown): string | undefined {
  if (typeof value !== 'string') return `label "${key}": the value must be a string`;
  if (value === '') return undefined;
  if (value.length > 63 || !NAME.test(value))
    return `label "${key}": value "${value}" must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`;
  return undefined;
}

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** A compiled selector, or the reason the API server would refuse it. `raw` is untrusted input. */
export function compileSelector(raw: unknown): Selector | string {
  if (raw === undefined || raw === null) return compileSelector({});
  if (typeof raw !== 'object' || Array.isArray(raw)) return 'a label selector must be an object';
  const { matchLabels = {}, matchExpressions = [] } = raw as Record<string, unknown>;
  if (typeof matchLabels !== 'object' || matchLabels === null || Array.isArray(matchLabels))
    return 'matchLabels must be a map of label keys to values';
  if (!Array.isArray(matchExpressions)) return 'matchExpressions must be a list';
  const tests: ((l: Labels) => boolean)[] = [];
  const parts: string[] = [];
  const keys = new Set<string>();
  for (const [k, v] of Object.entries(matchLabels as Record<string, unknown>)) {
    const problem = labelKeyProblem(k) ?? labelValueProblem(k, v);
    if (problem) return `matchLabels: ${problem}`;
    tests.push((l) => l[k] === v);
    parts.push(`${k}=${String(v)}`);
    keys.add(k);
  }
  for (const [i, e] of matchExpressions.entries()) {
    const at = `matchExpressions[${i}]`;
    if (typeof e !== 'object' || e === null) return `${at}: must be an object`;
    const { key, operator, values } = e as Record<string, unknown>;
    if (typeof key !== 'string') return `${at}: key must be a string`;
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) return `${at}: ${keyProblem}`;
    if (!OPERATORS.includes(operator as (typeof OPERATORS)[number]))
      return `${at}: operator ${JSON.stringify(operator)} is not one of ${OPERATORS.join(', ')}`;
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
    const set = new Set(list as string[]);
    const shown = [...set].join(',');
    keys.add(key);
    switch (operator) {
      case 'In':
        tests.push((l) => Object.hasOwn(l, key) && set.has(l[key]));
        parts.push(`${key} in (${shown})`);
        break;
      case 'NotIn':
        tests.push((l) => !Object.hasOwn(l, key) || !set.has(l[key]));
        parts.push(`${key} notin (${shown})`);
        break;
      case 'Exists':
        tests.push((l) => Object.hasOwn(l, key));
        parts.push(key);
        break;
      case 'DoesNotExist':
        tests.push((l) => !Object.hasOwn(l, key));
        parts.push(`!${key}`);
        break;
    }
  }
  return {
    keys: [...keys],
    matches: (labels) => tests.every((t) => t(labels)),
    text: parts.length ? parts.join(',') : '(all)',
  };
}
