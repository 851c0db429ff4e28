import { Readable } from 'node:stream';
import { readWatchEvents, type WatchEvent } from '../../../lib/kube/client';

describe('watch response bodies', () => {
  test('events whose multi-byte characters straddle chunk boundaries arrive intact', async () => {
    const text =
      JSON.stringify({
        type: 'ADDED',
        object: { metadata: { name: 'a', annotations: { note: 'Grüße 🚀' } } },
      }) +
      '\n' +
      JSON.stringify({ type: 'DELETED', object: { metadata: { name: 'b' } } }) +
      '\n';
    const bytes = Buffer.from(text, 'utf8');
    // One byte per chunk: every multi-byte character is split.
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    type Obj = { metadata: { name: string; annotations?: Record<string, string> } };
    const seen: WatchEvent<Obj>[] = [];
    await readWatchEvents<Obj>(Readable.from(chunks), (e) => seen.push(e));
    expect(seen.map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
    expect(seen[0].object.metadata.annotations?.note).toBe('Grüße 🚀');
  });
});
