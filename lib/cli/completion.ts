import type { Argv, CommandModule } from 'yargs';
import type { BaseArgs } from './flags';

const SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const;
type Shell = (typeof SHELLS)[number];

interface Args extends BaseArgs {
  shell: Shell;
}

/** kubectl's own completion, which asks the helper below; it must be on in the user's shell. */
const KUBECTL_COMPLETION: Record<Shell, string> = {
  bash: 'source <(kubectl completion bash)     # e.g. in ~/.bashrc',
  zsh: 'source <(kubectl completion zsh)      # e.g. in ~/.zshrc',
  fish: 'kubectl completion fish | source     # e.g. in ~/.config/fish/config.fish',
  powershell: 'kubectl completion powershell | Out-String | Invoke-Expression   # e.g. in $PROFILE',
};

/**
 * kubectl (>= 1.26) completes a plugin's arguments by running `kubectl_complete-<plugin> __complete
 * ARGS…` from PATH and reading cobra's protocol from it (lib/cli/complete.ts answers). kubectl runs
 * the helper itself, whatever the shell: on Linux and macOS an executable sh script, on Windows
 * (PowerShell) a .cmd file, which is what Go's exec.LookPath finds there.
 */
export function completionScript(shell: Shell): string {
  if (shell === 'powershell')
    return [
      '@echo off',
      'rem kubectl_complete-harden.cmd: lets kubectl (>= 1.26) complete "kubectl harden" in PowerShell.',
      'rem Save it in a folder on your PATH:',
      'rem   kubectl harden completion powershell | Out-File -Encoding ascii kubectl_complete-harden.cmd',
      "rem kubectl's own completion must be on:",
      `rem   ${KUBECTL_COMPLETION.powershell}`,
      'kubectl-harden __complete %*',
      '',
    ].join('\r\n');
  return [
    '#!/bin/sh',
    `# kubectl_complete-harden: lets kubectl (>= 1.26) complete "kubectl harden" in ${shell}.`,
    '# Save it on your PATH as an executable, e.g.:',
    `#   kubectl harden completion ${shell} > ~/.local/bin/kubectl_complete-harden && chmod +x ~/.local/bin/kubectl_complete-harden`,
    `# kubectl's own completion must be on in ${shell}:`,
    `#   ${KUBECTL_COMPLETION[shell]}`,
    'exec kubectl-harden __complete "$@"',
    '',
  ].join('\n');
}

export const completionCommand: CommandModule<BaseArgs, Args> = {
  command: 'completion <shell>',
  describe: 'Print kubectl_complete-harden, the helper with which kubectl completes harden commands',
  builder: (y: Argv<BaseArgs>) =>
    y.positional('shell', { choices: SHELLS, type: 'string', demandOption: true }) as unknown as Argv<Args>,
  handler: async (argv) => {
    const { runtimeOf } = await import('./context');
    runtimeOf(argv).io(argv).out(completionScript(argv.shell));
  },
};
