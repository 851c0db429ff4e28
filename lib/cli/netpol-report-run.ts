import type { Io } from './context';
import { HardenError } from '../errors';
import { printable } from './errors';
import { explain, noteGaps, openLog } from './flow-log-input';
import { toJson, toYamlDocuments } from './output';
import { toCiliumPolicy, type CiliumNetworkPolicy } from '../netpol/cilium';
import { sizeProblem } from '../netpol/limits';
import { report, type ReportResult } from '../netpol/report';
import { splitToFit } from '../netpol/split';
import { toNetworkPolicy, type NetworkPolicy, type WorkloadPolicy } from '../netpol/synthesize';

/**
 * `kubectl harden netpol report`: the log from a file or stdin, policies to stdout, the summary to
 * stderr. `-o cilium` names the kind of object, as `seccomp -o crd` does: CiliumNetworkPolicy YAML.
 */
export interface NetpolReportOptions {
  /** The flow log's path, or - for stdin. */
  input: string;
  skipInvalid: boolean;
  /** Fold many external addresses into CIDRs. */
  aggregate?: boolean;
  output: 'yaml' | 'json' | 'cilium';
}

export async function runNetpolReport(
  opts: NetpolReportOptions,
  { io, stdin = process.stdin }: { io: Io; stdin?: NodeJS.ReadableStream },
): Promise<void> {
  const format = opts.output;
  const input = await openLog(opts.input, stdin);
  let result: ReportResult;
  try {
    result = await report(input, {
      skipInvalid: opts.skipInvalid,
      aggregate: opts.aggregate,
      onProgress: (n) => io.progress(`read ${n} lines…`),
    });
  } catch (e) {
    throw explain(e, opts.input);
  } finally {
    io.done();
  }
  const render: (w: WorkloadPolicy) => NetworkPolicy | CiliumNetworkPolicy =
    format === 'cilium' ? toCiliumPolicy : toNetworkPolicy;
  const kind = format === 'cilium' ? 'CiliumNetworkPolicies' : 'NetworkPolicies';
  const splits: string[] = [];
  const parts = result.workloads.flatMap((w) => {
    const fitting = splitToFit(w, render);
    if (fitting.length > 1)
      splits.push(
        `${sizeProblem(render(w))}: written as ${fitting.length} ${kind} with its selector (${fitting.map((p) => p.name).join(', ')}); they add up to exactly what it allows`,
      );
    return fitting;
  });
  const objects = parts.map(render);
  // All or nothing: a policy the API would refuse (one peer alone too big) stops the report first.
  const tooBig = objects.map(sizeProblem).filter((p): p is string => p !== undefined);
  if (tooBig.length) throw new HardenError(printable(tooBig.join('\n')));
  for (const note of [...result.notes, ...splits]) io.err(printable(`note: ${note}`));
  noteGaps(
    result.gaps,
    io,
    'connections made then are not in these policies, which would deny them; monitor again to record them',
  );
  io.out(
    format === 'json' ? toJson({ apiVersion: 'v1', kind: 'List', items: objects }) : toYamlDocuments(objects),
  );
  if (result.flows === 0) io.err('note: the log holds no flows (header only); no policies to write');
  io.err(
    `${result.flows} flows, ${objects.length} ${objects.length === 1 ? 'policy' : 'policies'}, ` +
      `${result.skipped} lines skipped`,
  );
}
