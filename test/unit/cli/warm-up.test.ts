import { BUDGETED, warmUp } from '../../../lib/cli/warm-up';

describe('warm-up before the single executable’s snapshot', () => {
  test('runs the budgeted command lines and writes nothing', async () => {
    const log = console.log;
    const write = jest.spyOn(process.stdout, 'write');
    const stderr = jest.spyOn(process.stderr, 'write');
    try {
      await warmUp();
      expect(write).not.toHaveBeenCalled();
      expect(stderr).not.toHaveBeenCalled();
      expect(console.log).toBe(log);
    } finally {
      write.mockRestore();
      stderr.mockRestore();
    }
    expect(BUDGETED).toContainEqual(['version', '--client']);
    expect(BUDGETED).toContainEqual(['--help']);
  });

  test('a failing command line fails the build, and console.log is restored', async () => {
    const log = console.log;
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(warmUp([['no-such-verb']])).rejects.toThrow("'kubectl harden no-such-verb' exited 1");
      expect(console.log).toBe(log);
    } finally {
      stderr.mockRestore();
    }
  });

  test('a command line that would connect fails rather than reach a cluster', async () => {
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(warmUp([['version']])).rejects.toThrow("'kubectl harden version' exited 1");
    } finally {
      stderr.mockRestore();
    }
  });
});
