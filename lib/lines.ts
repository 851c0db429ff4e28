import { StringDecoder } from 'node:string_decoder';

/**
 * Splits a byte stream into lines. Bytes are decoded as UTF-8 across chunk boundaries, so a
 * character split between two chunks is not mangled (Buffer#toString per chunk would).
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';

  push(chunk: Buffer | string): string[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    return lines;
  }

  flush(): string[] {
    const rest = this.buffer + this.decoder.end();
    this.buffer = '';
    return rest ? [rest] : [];
  }
}
