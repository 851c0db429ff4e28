import { parseDuration } from '../../lib/duration';
import { HardenError } from '../../lib/errors';

describe('durations', () => {
  test.each([
    ['30s', 30_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['500ms', 500],
    ['15', 15_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test('0 and 0s are the same: 0, which callers take for no limit', () => {
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0s')).toBe(0);
  });

  test('garbage is an error that says what a duration looks like', () => {
    expect(() => parseDuration('soon')).toThrow(HardenError);
    expect(() => parseDuration('5x')).toThrow(/invalid duration "5x"/);
    expect(() => parseDuration('')).toThrow(/invalid duration/);
    expect(() => parseDuration('-1s')).toThrow(/invalid duration/);
  });
});
