import { VERSION } from '../version';
import { processIo } from './context';
import type { GlobalFlags } from './flags';
import { outputFormat, printObject } from './output';

interface ServerVersion {
  gitVersion: string;
  platform?: string;
}

export async function runVersion(argv: GlobalFlags & { client?: boolean }): Promise<void> {
  const io = processIo(argv);
  const format = outputFormat(argv.output, ['json', 'yaml', 'table'], 'table');
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
  if (!argv.client) {
    try {
      const { Kube } = await import('../kube/client');
      const kube = await Kube.connect(argv);
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
    io.out(printObject(report, format));
  }
  // Like kubectl: the client version is still printed, and the unreachable server is an error.
  if (serverError) throw serverError;
}
