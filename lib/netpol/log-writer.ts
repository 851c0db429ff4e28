import { formatLine, type FlowLogLine, type TargetPod } from './log';

/**
 * Writes a flow log (see ./log for the format and its reader). Each target and peer identity is
 * written once as a definition line and named by id afterwards. `write` receives whole lines: the
 * caller makes each one a single write, so Ctrl-C or a kill never leaves half a line.
 */
export class FlowLogWriter {
  private readonly ids = { target: new Map<string, number>(), peer: new Map<string, number>() };
  private next = 0;
  lines = 0;

  constructor(private readonly sink: (line: string) => void) {}

  write(line: FlowLogLine): void {
    this.sink(formatLine(line) + '\n');
    this.lines++;
  }

  /** The id of an identity, writing its definition line the first time it is seen. */
  idOf(kind: 'target' | 'peer', value: object): number {
    const key = JSON.stringify(value);
    let id = this.ids[kind].get(key);
    if (id === undefined) {
      id = this.next++;
      this.ids[kind].set(key, id);
      this.write(
        kind === 'target'
          ? { kind, id, target: value as TargetPod }
          : ({ kind, id, peer: value } as FlowLogLine),
      );
    }
    return id;
  }

  get peers(): number {
    return this.ids.peer.size;
  }
}
