import type { RequestOptions } from 'node:https';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { credentials } from '../../../lib/kube/client';
import { resolveContext } from '../../../lib/kube/kubeconfig';
import { HardenError } from '../../../lib/errors';

const dir = mkdtempSync(join(tmpdir(), 'harden-token-file-'));

/** A context whose user's token is in a file beside the kubeconfig (a relative tokenFile). */
function context(user: string) {
  const file = join(dir, 'config');
  writeFileSync(
    file,
    `current-context: ci
clusters: [{name: c, cluster: {server: https://x.example}}]
users: [{name: bot, user: ${user}}]
contexts: [{name: ci, context: {cluster: c, user: bot}}]
`,
  );
  return resolveContext({ kubeconfig: file }, {});
}

// What client-node's applyToHTTPSOptions does for such a user: it reads only "token-file".
const clientNode = async (o: RequestOptions) => void (o.headers = { ...o.headers });

describe("a user's tokenFile, which client-node does not read", () => {
  test('is the bearer token, as kubectl sends it: read from beside the kubeconfig, without its newline', async () => {
    writeFileSync(join(dir, 'token'), 'abc.def\n');
    const options: RequestOptions = {};
    await credentials(context('{tokenFile: token}'), clientNode)(options);
    expect(options.headers).toMatchObject({ Authorization: 'Bearer abc.def' });
  });

  test('that is missing is named with its user and context', async () => {
    const e = await credentials(
      context('{tokenFile: gone}'),
      clientNode,
    )({}).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(HardenError);
    expect((e as HardenError).message).toContain('user "bot" (context "ci")');
    expect((e as HardenError).message).toContain(join(dir, 'gone'));
  });
});
