import { retryable } from '../../../lib/kube/client';

describe('which failed requests are sent again', () => {
  test.each(['GET', 'POST', 'PATCH', 'DELETE'])(
    '%s on 429 and 503: the server did not process it',
    (method) => {
      expect(retryable(method, 429)).toBe(true);
      expect(retryable(method, 503)).toBe(true);
    },
  );

  test('504 may have been applied: never a POST again, a repeatable request yes', () => {
    expect(retryable('POST', 504)).toBe(false);
    expect(retryable('GET', 504)).toBe(true);
    expect(retryable('PATCH', 504)).toBe(true);
  });

  test.each([400, 403, 404, 409, 422, 500])('%s is the answer', (code) => {
    expect(retryable('GET', code)).toBe(false);
  });
});
