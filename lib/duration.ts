import { HardenError } from './errors';

/**
 * kubectl's duration syntax for --request-timeout and --timeout, in milliseconds: "30s", "2m",
 * "1h", "1m30s", "500ms", a bare number of seconds ("30"). "0" and "0s" are both 0, which every
 * caller takes as "no limit".
 */
export function parseDuration(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (text === '' || consumed !== text.length)
    throw new HardenError(
      `invalid duration "${text}"`,
      'Use a duration such as 30s, 2m or 1h (0: no limit).',
    );
  return total;
}
