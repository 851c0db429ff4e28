import { HardenError } from '../../../lib/errors';
import { ApiError } from '../../../lib/kube/client';
import { R } from '../../../lib/kube/paths';
import { createSession } from '../../../lib/session/client';
import { FakeCluster } from '../fake-cluster';

describe('creating a session', () => {
  test('our own create, applied but answered with 409 (a repeated request), is a success', async () => {
    const c = new FakeCluster();
    c.hook = (method) => {
      if (method === 'POST') throw new ApiError('already exists', 409, { code: 409 });
    };
    const s = await createSession(c.kube('web'), 'web', 'sc-1', 'seccomp', { podName: 'p' });
    expect(s.metadata.name).toBe('sc-1');
    expect(c.sessions()).toHaveLength(1);
  });

  test("someone else's session of that name is an error naming it", async () => {
    const c = new FakeCluster();
    c.put(R.tracesessions, { metadata: { name: 'sc-1', namespace: 'web' } });
    await expect(createSession(c.kube('web'), 'web', 'sc-1', 'seccomp', { podName: 'p' })).rejects.toThrow(
      new HardenError('session "sc-1" already exists in namespace "web" (context "fake")'),
    );
  });
});
