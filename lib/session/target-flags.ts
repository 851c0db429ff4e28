import { HardenError } from '../errors';
import { parseSelector, type LabelSelector } from '../labels';

/** What a new session traces, as the command line names it. Light: command modules check it at parse time. */
export interface TargetFlags {
  pod?: string;
  selector?: string;
  all?: boolean;
  container?: string[];
}

/**
 * Why these flags do not name exactly one target, or undefined when they do. `allowAll`: the verb
 * offers --all (every pod of the namespace).
 */
export function targetChoiceError(flags: TargetFlags, allowAll = true): string | undefined {
  const chosen = [flags.pod, flags.selector, flags.all].filter(Boolean).length;
  if (chosen === 1) return undefined;
  const options = allowAll ? '-p/--pod, -l/--selector or --all' : '-p/--pod or -l/--selector';
  return `name what to trace: exactly one of ${options}${chosen > 1 ? ' (more than one given)' : ''}`;
}

/** -l's selector, or an error naming it (kubectl's syntax; checked at parse time, before any I/O). */
export function targetSelector(text: string): LabelSelector {
  const parsed = parseSelector(text);
  if (typeof parsed === 'string')
    throw new HardenError(
      `invalid selector "${text}": ${parsed}`,
      "Use kubectl's syntax: -l app=web,tier in (front,back),tier!=db,!canary",
    );
  return parsed;
}
