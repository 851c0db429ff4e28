/**
 * The verb group of a session kind, built from its descriptor: start, stop, show, list and delete,
 * each offering exactly the flags it honours. Light: handlers import what they run.
 */
import type { Argv } from 'yargs';
import { START_TIMEOUT } from '../session/timeouts';
import {
  addListingFlags,
  listingOptions,
  addConnectionFlags,
  addOutputFlag,
  addTargetFlags,
  addTimeoutFlag,
  type ConnectionArgs,
} from './flags';
import type { Deps } from './context';
import type { ResultOptions, SessionKind } from './session-kind';
import { verbGroup, type AnyCommand } from './verb-group';

type Args = ConnectionArgs & Record<string, unknown>;

type Verbs = typeof import('./session-verbs');

/** A handler that loads the verbs and connects only when it runs, so --help loads neither. */
const connected =
  (run: (verbs: Verbs, argv: Args, deps: Deps) => Promise<void>) =>
  async (argv: Args): Promise<void> => {
    const [verbs, { collaborators }] = await Promise.all([import('./session-verbs'), import('./context')]);
    await run(verbs, argv, await collaborators(argv));
  };

/** -o (the kind's formats), --output-dir where it writes files, and its own result flags. */
function addResultFlags<O extends ResultOptions>(y: Argv<Args>, kind: SessionKind<O>): Argv<Args> {
  let out = addOutputFlag(y, kind.formats, kind.formats[0]) as unknown as Argv<Args>;
  if (kind.outputDir)
    out = out.option('output-dir', { type: 'string', requiresArg: true, describe: kind.outputDir });
  return kind.resultFlags ? kind.resultFlags(out) : out;
}

const idArg = (y: Argv<Args>, group: string) =>
  y.positional('id', { type: 'string', demandOption: true, describe: `Session id (from ${group} start)` });

function start<O extends ResultOptions>(kind: SessionKind<O>): AnyCommand {
  return {
    command: 'start',
    describe: kind.describe.start,
    builder: (y: Argv<Args>) =>
      addTimeoutFlag(
        addTargetFlags(addConnectionFlags(y, { namespaced: true }), 'trace')
          .option('container', {
            alias: 'c',
            type: 'string',
            array: true,
            requiresArg: true,
            describe: 'Only these containers (repeatable)',
          })
          .option('name', {
            type: 'string',
            requiresArg: true,
            describe: 'Session id to use (default: generated)',
          }),
        'for the agents to start tracing',
        START_TIMEOUT,
      ).example(`$0 ${kind.group} start ${kind.describe.example}`, ''),
    handler: connected((v, argv, deps) =>
      v.runStart(
        kind,
        {
          pod: argv.pod as string | undefined,
          selector: argv.selector as string | undefined,
          container: argv.container as string[] | undefined,
          name: argv.name as string | undefined,
          timeoutMs: argv.timeout as number,
        },
        deps,
      ),
    ),
  };
}

function stop<O extends ResultOptions>(kind: SessionKind<O>): AnyCommand {
  const own = (y: Argv<Args>) => (kind.stopFlags ? kind.stopFlags(y) : y);
  return {
    command: 'stop <id>',
    describe: kind.describe.stop,
    builder: (y: Argv<Args>) =>
      own(
        addResultFlags(
          addTimeoutFlag(
            idArg(addConnectionFlags(y, { namespaced: true }), kind.group),
            "for every node's final flush",
            '60s',
          )
            .option('keep', {
              type: 'boolean',
              default: false,
              describe: 'Keep the session object afterwards',
            })
            .option('accept-gaps', {
              type: 'boolean',
              default: false,
              describe: `Print ${kind.describe.result} even if a target was not traced for a while (each gap is named on stderr)`,
            })
            .option('accept-truncated', {
              type: 'boolean',
              default: false,
              describe: `Print ${kind.describe.result} even if the agents' records hit a bound and lost entries (each cut set is named on stderr)`,
            })
            .options(
              kind.recordsLife
                ? {
                    'require-full-life': {
                      type: 'boolean',
                      default: false,
                      describe:
                        "Exit non-zero, printing nothing, unless each workload's start-up, exec probes and shutdown were all observed",
                    },
                    'include-shutdown': {
                      type: 'boolean',
                      default: false,
                      describe:
                        'First end one traced pod of each workload gracefully (its grace period) and wait for its replacement, so its shutdown is recorded; bare pods are left alone',
                    },
                  }
                : {},
            ) as unknown as Argv<Args>,
          kind,
        ),
      ),
    handler: connected((v, argv, deps) =>
      v.runStop(
        kind,
        {
          ...kind.options(argv as ResultOptions & Args),
          id: argv.id as string,
          keep: argv.keep as boolean,
          acceptGaps: argv.acceptGaps as boolean,
          acceptTruncated: argv.acceptTruncated as boolean,
          requireFullLife: argv.requireFullLife === true,
          includeShutdown: argv.includeShutdown === true,
          timeoutMs: argv.timeout as number,
        },
        deps,
      ),
    ),
  };
}

function show<O extends ResultOptions>(kind: SessionKind<O>): AnyCommand {
  return {
    command: 'show <id>',
    describe: kind.describe.show,
    builder: (y: Argv<Args>) =>
      addResultFlags(idArg(addConnectionFlags(y, { namespaced: true }), kind.group), kind),
    handler: connected((v, argv, deps) =>
      v.runShow(kind, { ...kind.options(argv as ResultOptions & Args), id: argv.id as string }, deps),
    ),
  };
}

function list<O extends ResultOptions>(kind: SessionKind<O>): AnyCommand {
  return {
    command: 'list',
    describe: `List ${kind.group} sessions (-A: in every namespace)`,
    builder: (y: Argv<Args>) => addListingFlags(y),
    handler: async (argv: Args) => {
      const [{ runList }, { collaborators }] = await Promise.all([
        import('./session-list'),
        import('./context'),
      ]);
      await runList({ kind, ...listingOptions(argv) }, await collaborators(argv));
    },
  };
}

function remove<O extends ResultOptions>(kind: SessionKind<O>): AnyCommand {
  return {
    command: 'delete [id..]',
    describe: `Remove ${kind.group} sessions (a running one stops tracing); stopped sessions stay until removed`,
    builder: (y: Argv<Args>) =>
      addConnectionFlags(y, { namespaced: true })
        .positional('id', { type: 'string', array: true, describe: 'Session ids' })
        .option('all', {
          type: 'boolean',
          default: false,
          describe: `Every ${kind.group} session of the namespace`,
        })
        .check((argv) => {
          const ids = (argv.id as string[] | undefined) ?? [];
          if (!ids.length && !argv.all) throw new Error('name the sessions to delete, or pass --all');
          if (ids.length && argv.all) throw new Error('name sessions or pass --all, not both');
          return true;
        }) as unknown as Argv<Args>,
    handler: connected((v, argv, deps) =>
      v.runDelete(kind, { ids: (argv.id as string[] | undefined) ?? [], all: argv.all as boolean }, deps),
    ),
  };
}

/** `kubectl harden <group> start|stop|show|list|delete` for one kind of session. */
export function sessionGroup<O extends ResultOptions>(kind: SessionKind<O>): AnyCommand {
  return verbGroup({
    name: kind.group,
    aliases: kind.aliases,
    describe: kind.describe.group,
    verbs: [start(kind), stop(kind), show(kind), list(kind), remove(kind), ...(kind.verbs ?? [])],
  });
}
