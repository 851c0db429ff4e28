import { HardenError } from './errors';

/** kubectl's duration syntax for --request-timeout / --timeout: "0", "30", "30s", "2m", "1h", "1m30s". */
export function parseDuration(text: string | undefined): number | undefined {
  if (text === undefined || text === '' || text === '0') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0].length;
  }
  if (consumed !== text.length)
    throw new HardenError(`invalid duration "${text}"`, 'Use a duration such as 30s, 2m or 1h.');
  return total;
}
