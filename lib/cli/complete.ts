import { buildParser } from './parser';

/** cobra's ShellCompDirectiveNoFileComp: kubectl should not fall back to file names. */
const NO_FILE_COMPLETION = 4;

type DefaultCompletion = (done: (err: Error | null, candidates?: string[]) => void) => void;

/**
 * cobra's __complete protocol, which kubectl (>= 1.26) speaks to kubectl_complete-harden: the
 * candidates for the last word, one per line, then ":<directive>". yargs resolves the words before
 * it (verb groups, aliases such as `sc`, flags and their values) and lists what that command takes;
 * here they are only filtered by what was typed.
 */
export async function complete(words: string[]): Promise<string> {
  const current = words[words.length - 1] ?? '';
  let candidates: string[] = [];
  const parser = buildParser([]).completion(
    '__yargs-completion',
    false,
    // yargs' fallback form: its default completion, taken in the innermost command's context.
    (_current: string, _argv: unknown, defaultCompletion: DefaultCompletion, done: (c: string[]) => void) =>
      defaultCompletion((_err, found) => {
        candidates = found ?? [];
        done([]);
      }),
  );
  // The completion key takes the program name as its value, as yargs' own shell scripts pass it.
  await parser.parseAsync(['--get-yargs-completions', 'kubectl-harden', ...words]).catch(() => undefined);
  const flags = current.startsWith('-');
  const matching = [...new Set(candidates)]
    // yargs lists `--n` for -n when completing "--": only long names are written with two dashes.
    .filter((c) => !/^--.$/.test(c) && c !== '--help' && c !== '-h')
    .filter((c) => c.startsWith('-') === flags && c.startsWith(current));
  return matching.map((c) => `${c}\n`).join('') + `:${NO_FILE_COMPLETION}\n`;
}
