// Progress on stderr: rewritten in place on a terminal, plain lines on a pipe or a dumb terminal.
import { processIo } from '../../../lib/cli/context';

function progressOn(isTTY: boolean, term: string | undefined): string {
  const written: string[] = [];
  const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    written.push(String(chunk));
    return true;
  });
  const was = { isTTY: process.stderr.isTTY, term: process.env.TERM };
  process.stderr.isTTY = isTTY;
  if (term === undefined) delete process.env.TERM;
  else process.env.TERM = term;
  try {
    const io = processIo({});
    io.progress('waiting 1');
    io.progress('waiting 2');
    io.done();
  } finally {
    write.mockRestore();
    process.stderr.isTTY = was.isTTY;
    if (was.term === undefined) delete process.env.TERM;
    else process.env.TERM = was.term;
  }
  return written.join('');
}

test('a terminal gets the line rewritten in place', () => {
  expect(progressOn(true, 'xterm-256color')).toBe('\r\x1b[Kwaiting 1\r\x1b[Kwaiting 2\n');
});

test('a pipe, or a dumb terminal, gets plain lines and no escape', () => {
  for (const [tty, term] of [
    [false, 'xterm'],
    [true, 'dumb'],
  ] as const)
    expect(progressOn(tty, term)).toBe('waiting 1\nwaiting 2\n');
});
