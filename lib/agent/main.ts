export async function runAgent(_args: string[]): Promise<number> {
  process.stderr.write('harden-agent: not built yet\n');
  return 1;
}
