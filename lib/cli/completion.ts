import type { Argv, CommandModule } from 'yargs';
import type { GlobalFlags } from './flags';

interface Args extends GlobalFlags {
  shell: string;
}

/**
 * kubectl (>= 1.26) completes a plugin's arguments by running `kubectl_complete-<plugin> __complete
 * ARGS…` from PATH and reading cobra's protocol: one candidate per line, then ":<directive>".
 * The script we print is that executable; it asks this binary, which answers via `__complete`.
 */
export const completionScript = `#!/usr/bin/env sh
# Completion for "kubectl harden": save as kubectl_complete-harden on your PATH and chmod +x it.
exec kubectl-harden __complete "$@"
`;

export const completionCommand: CommandModule<GlobalFlags, Args> = {
  command: 'completion <shell>',
  describe: 'Print the kubectl_complete-harden script that lets kubectl complete harden commands',
  builder: (y: Argv<GlobalFlags>) =>
    y.positional('shell', {
      choices: ['bash', 'zsh'],
      type: 'string',
      demandOption: true,
    }) as unknown as Argv<Args>,
  handler: async () => {
    process.stdout.write(completionScript);
  },
};
