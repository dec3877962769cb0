#!/usr/bin/env node
/**
 * `npm run sample` starts the sample shop (sample-app/main.ts: HTTP + background work) on its
 * embedded defaults: a SQLite file under sample-app/data, in-memory queues, no Redis.
 * `npm run sample -- worker` starts sample-app/worker.ts instead (background work, no HTTP).
 * `npm run sample -- --postgres` (or SAMPLE_POSTGRES=1) first starts a local PostgreSQL (Debian's
 * server binaries: `apt-get install -y postgresql`), its cluster kept in DATA_DIR/postgres across
 * runs, and runs the same sample with POSTGRES_URL pointing at it: the emails queue on BullMQ's
 * PostgreSQL backend and the exclusive tasks on PostgreSQL. The server dies with this process.
 * A POSTGRES_URL already set is used as it is (no server is started).
 *
 * The sample is compiled with tsc (type-checked, decorator metadata emitted: Nest's constructor
 * injection needs it) into node_modules/.cache/nest-hosting-sample, incrementally, then loaded
 * in this very process, so that Ctrl-C and SIGTERM reach the app directly.
 *
 * Signals: npm runs a script as `sh -c "<script>"` and forwards SIGTERM/SIGINT only to that shell;
 * Debian's and Ubuntu's sh (dash) does not pass them on, and dies leaving node running (still
 * serving :3000) while npm exits. So package.json runs `exec node scripts/sample.mjs`: the shell
 * becomes this process, npm's forwarded SIGTERM (what `docker stop` sends to npm as PID 1) reaches
 * the app, and npm exits with the app's code once it has stopped gracefully. In a container,
 * running `node` directly as PID 1 (`CMD ["node", "dist/main.js"]`) avoids the question altogether.
 * (On Windows, where npm's shell is cmd.exe, run `node scripts/sample.mjs`.)
 * Environment: PORT, DATA_DIR, REDIS_URL, SHUTDOWN_TIMEOUT_MS, METRICS_PORT, OTEL_EXPORTER_OTLP_ENDPOINT
 * (see sample-app/config.ts and sample-app/telemetry.ts).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(repoRoot, 'node_modules', '.cache', 'nest-hosting-sample');
const args = process.argv.slice(2);
const postgres = args.includes('--postgres') || process.env.SAMPLE_POSTGRES === '1';
const unknownFlag = args.find((arg) => arg.startsWith('--') && arg !== '--postgres');
if (unknownFlag) {
  console.error(`sample: unknown option "${unknownFlag}"; the only option is --postgres`);
  process.exit(2);
}
const entry = args.find((arg) => !arg.startsWith('--')) ?? 'main';
if (!['main', 'worker'].includes(entry)) {
  console.error(`sample: unknown entry "${entry}"; use "main" (default) or "worker"`);
  process.exit(2);
}

const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
const compiled = spawnSync(
  process.execPath,
  [tsc, '-p', path.join(repoRoot, 'sample-app', 'tsconfig.json'), '--outDir', outDir, '--tsBuildInfoFile', path.join(outDir, '.tsbuildinfo')],
  { cwd: repoRoot, stdio: 'inherit' },
);
if (compiled.status !== 0) {
  console.error(`sample: compiling sample-app failed (tsc exit ${compiled.status ?? compiled.signal})`);
  process.exit(compiled.status || 1);
}

process.chdir(repoRoot); // the default DATA_DIR (sample-app/data) is relative to the repository
process.env.DATA_DIR ??= path.join(repoRoot, 'sample-app', 'data');
const require = createRequire(import.meta.url);
if (postgres && !process.env.POSTGRES_URL) {
  // The test suite's harness (TypeScript, through the repo's loader): initdb once, then the server
  // on a free loopback port, as the postgres user when this runs as root.
  require(path.join(repoRoot, 'test', 'support', 'child-loader', 'register-cjs.cjs'));
  const { startPostgresServer } = require(path.join(repoRoot, 'test', 'support', 'postgres-server.ts'));
  const server = await startPostgresServer({ dir: path.join(process.env.DATA_DIR, 'postgres') }).catch((error) => {
    console.error(`sample: could not start PostgreSQL: ${error.message}`);
    process.exit(1);
  });
  process.env.POSTGRES_URL = server.url;
  console.log(`sample: PostgreSQL ${server.url} (cluster in ${server.dir})`);
}
require(path.join(outDir, 'sample-app', `${entry}.js`));
