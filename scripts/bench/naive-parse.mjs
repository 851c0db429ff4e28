#!/usr/bin/env node
// The baseline `netpol report` is measured against (BENCHMARKS.md §4): what a short script does
// to read a JSON-lines file, readline and JSON.parse on every line, nothing else. Prints the
// number of lines parsed.
//
//   node scripts/bench/naive-parse.mjs FILE
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

let parsed = 0;
for await (const line of createInterface({ input: createReadStream(process.argv[2]), crlfDelay: Infinity })) {
  if (line === '') continue;
  JSON.parse(line);
  parsed++;
}
console.log(parsed);
