import { BpftraceError } from '../../lib/agent/core/bpftrace-error';
import { UsageError } from '../../lib/cli/errors';
import { HardenError } from '../../lib/errors';
import { ApiError } from '../../lib/kube/client';
import { FlowLogError } from '../../lib/netpol/log';
import { UnknownSyscallError } from '../../lib/seccomp/names';
import { ProfileError } from '../../lib/seccomp/profile';

describe('errors', () => {
  test.each([
    ['HardenError', new HardenError('m')],
    ['ApiError', new ApiError('m', 500, undefined)],
    ['BpftraceError', new BpftraceError('m', 'stderr')],
    ['UsageError', new UsageError('m')],
    ['FlowLogError', new FlowLogError(1, 'm')],
    ['UnknownSyscallError', new UnknownSyscallError('amd64', [4000])],
    ['ProfileError', new ProfileError('m')],
  ])('%s names itself, so a stack or a log line says which error it is', (name, e) => {
    expect(e.name).toBe(name);
    expect(String(e)).toMatch(new RegExp(`^${name}: `));
  });
});
