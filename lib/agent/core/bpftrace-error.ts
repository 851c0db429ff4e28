/** bpftrace could not be run, did not attach, or died: why, for the BpftraceReady condition. */
export class BpftraceError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    /** The BpftraceReady condition's reason. */
    readonly reason = 'BpftraceFailed',
  ) {
    super(message);
    this.name = 'BpftraceError';
  }
}
