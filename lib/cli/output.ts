import { DEFAULT_SCHEMA, Type, dump as dumpYaml } from 'js-yaml';
import Table from 'cli-table3';

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/**
 * Plain scalars a YAML 1.1 reader (kubectl's, through go-yaml) takes for something other than a
 * string, which js-yaml's YAML 1.2 schema would leave unquoted: ints with `_` (2024_05_01), base 60
 * (1:20), octal and binary forms, floats without a dot (1e3), and the 1.1 booleans and nulls.
 * Anything starting like a number is quoted; a few harmless quotes beat a label turned into 20240501.
 */
const YAML11_NON_STRING =
  /^(?:[-+]?\.?[0-9][0-9a-zA-Z_.:+-]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|<<|=)$/;

// A type that only ever "resolves" such text: js-yaml then quotes those strings when it dumps.
const yaml11 = new Type('tag:kubectl-harden,2026:yaml11-non-string', {
  kind: 'scalar',
  resolve: (s: string | null) => s !== null && YAML11_NON_STRING.test(s),
});
const SCHEMA = DEFAULT_SCHEMA.extend({ implicit: [yaml11] });

export function toYaml(value: unknown): string {
  return dumpYaml(value, { noRefs: true, lineWidth: -1, sortKeys: false, schema: SCHEMA });
}

/** Several objects as one multi-document YAML stream, the form `kubectl apply -f -` accepts. */
export function toYamlDocuments(values: unknown[]): string {
  return values.map((v) => `---\n${toYaml(v)}`).join('');
}

// In its own module, so that the process's Io (built on every run) does not load js-yaml and cli-table3.
export { useColour } from './colour';

/** kubectl's plain table: upper-case headers, columns padded with three spaces, no borders. */
export function renderTable(headers: string[], rows: (string | number)[][], colour = false): string {
  const blank = {
    top: '',
    'top-mid': '',
    'top-left': '',
    'top-right': '',
    bottom: '',
    'bottom-mid': '',
    'bottom-left': '',
    'bottom-right': '',
    left: '',
    'left-mid': '',
    mid: '',
    'mid-mid': '',
    right: '',
    'right-mid': '',
    middle: '',
  };
  const table = new Table({
    head: headers.map((h) => (colour ? `\x1b[1m${h.toUpperCase()}\x1b[0m` : h.toUpperCase())),
    chars: blank,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 3, compact: true },
  });
  for (const r of rows) table.push(r.map((c) => String(c)));
  return (
    table
      .toString()
      .split('\n')
      .map((l) => l.trimEnd())
      .join('\n') + '\n'
  );
}

export function printObject(value: unknown, format: string): string {
  return format === 'yaml' ? toYaml(value) : toJson(value);
}
