import { VERSION } from '../version';
import type { Kube } from '../kube/client';
import type { Io } from './context';

interface ServerVersion {
  gitVersion: string;
  platform?: string;
}

export interface VersionOptions {
  /** Client version only: no connection. */
  client: boolean;
  output: 'table' | 'json' | 'yaml';
}

export async function runVersion(opts: VersionOptions, io: Io, connect: () => Promise<Kube>): Promise<void> {
  const format = opts.output;
  const report: {
    clientVersion: { version: string; nodeVersion: string; platform: string };
    serverVersion?: ServerVersion;
  } = {
    clientVersion: {
      version: VERSION,
      nodeVersion: process.version,
      platform: `${process.platform}/${process.arch}`,
    },
  };
  let serverError: unknown;
  if (!opts.client) {
    try {
      const kube = await connect();
      const v = await kube.get<ServerVersion>('/version');
      report.serverVersion = { gitVersion: v.gitVersion, platform: v.platform };
    } catch (e) {
      serverError = e;
    }
  }
  if (format === 'table') {
    io.out(`Client Version: ${VERSION}\n`);
    if (report.serverVersion) io.out(`Server Version: ${report.serverVersion.gitVersion}\n`);
  } else {
    // Only here: js-yaml is most of what `version --client` would otherwise load.
    const { printObject } = await import('./output');
    io.out(printObject(report, format));
  }
  // Like kubectl: the client version is still printed, and the unreachable server is an error.
  if (serverError) throw serverError;
}
