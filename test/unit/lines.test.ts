import { LineSplitter } from '../../lib/lines';

describe('LineSplitter', () => {
  test('lines are reassembled across chunks', () => {
    const s = new LineSplitter();
    expect(s.push('{"type": "printf", "da')).toEqual([]);
    expect(s.push('ta": "harden:ready\\n"}\n{"x"')).toEqual([
      '{"type": "printf", "data": "harden:ready\\n"}',
    ]);
    expect(s.flush()).toEqual(['{"x"']);
  });

  test('a character split between two byte chunks stays whole', () => {
    const bytes = Buffer.from('{"name":"café ☕"}\n', 'utf8');
    const at = bytes.indexOf(0xe2) + 1; // inside the three bytes of ☕
    const s = new LineSplitter();
    expect(s.push(bytes.subarray(0, at))).toEqual([]);
    expect(s.push(bytes.subarray(at))).toEqual(['{"name":"café ☕"}']);
  });
});
