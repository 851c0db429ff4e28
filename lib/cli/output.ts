import { dump as dumpYaml } from 'js-yaml';
import Table from 'cli-table3';

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

export function toYaml(value: unknown): string {
  return dumpYaml(value, { noRefs: true, lineWidth: -1, sortKeys: false });
}

/** Several objects as one multi-document YAML stream, the form `kubectl apply -f -` accepts. */
export function toYamlDocuments(values: unknown[]): string {
  return values.map((v) => `---\n${toYaml(v)}`).join('');
}

/** Colour only for a terminal that wants it (NO_COLOR, TERM=dumb and pipes get none). */
export function useColour(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

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
