/** Runs one bench file in this process (started by bench/run.ts) and prints its result as JSON. */
import type { BenchResult } from './bench-result.js';

const file = process.argv[2];
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mod = require(file) as { run(): Promise<BenchResult> };
mod
  .run()
  .then((result) => {
    process.stdout.write(`\nBENCH_RESULT ${JSON.stringify(result)}\n`);
    process.exit(0);
  })
  .catch((error: unknown) => {
    process.stderr.write(`bench ${file} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  });
