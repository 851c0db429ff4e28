import { readFileSync } from 'node:fs';
import type { Authenticate } from './client';
import type { ResolvedContext } from './kubeconfig';

// client-go re-reads a token file at most once a minute: a rotated token is picked up that soon.
const REREAD_MS = 60_000;

/**
 * A user's `tokenFile` (kubectl's key; client-node reads only "token-file", so it sent no
 * credentials at all): the file's content, trimmed as client-go trims it, is the bearer token. A
 * user with an exec plugin or an auth provider gets its token from there instead.
 */
export function withTokenFile(ctx: ResolvedContext, apply: Authenticate): Authenticate {
  const user = ctx.merged.users?.find((u) => u.name === ctx.user)?.user;
  const file = user?.tokenFile;
  if (typeof file !== 'string' || !file || user?.exec || user?.['auth-provider']) return apply;
  let token = '';
  let readAt = -Infinity;
  return async (options) => {
    await apply(options);
    if (Date.now() - readAt > REREAD_MS) {
      token = readFileSync(file, 'utf8').trim();
      readAt = Date.now();
    }
    options.headers = { ...options.headers, Authorization: `Bearer ${token}` };
  };
}
