/** Runs the sample app's entries as real processes, with a temp DATA_DIR and a free port. */
import BetterSqlite3 from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { getFreePorts } from '../support/free-port.js';
import { fromRoot } from '../support/paths.js';

export const MAIN = fromRoot('sample-app', 'main.ts');
export const WORKER = fromRoot('sample-app', 'worker.ts');

/** Child processes on a busy 2-core machine: be generous. */
export const START_TIMEOUT_MS = 60_000;

const dataDirs: string[] = [];
afterAll(() => {
  for (const dir of dataDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh DATA_DIR, removed after the spec file's tests. */
export function tempDataDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-sample-'));
  dataDirs.push(dir);
  return dir;
}

export interface RunningSample {
  child: ChildApp;
  port: number;
  url: string;
  /** The METRICS_PORT it was given: a free port unless `env` said otherwise. */
  metricsPort: string;
  post(route: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  get(route: string): Promise<{ status: number; body: any }>;
}

/** Keeps the sample's traces off (and on 127.0.0.1) whatever this shell's environment says; a test that wants them sets the endpoint. */
export const NO_TRACES = { OTEL_EXPORTER_OTLP_ENDPOINT: undefined, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined };

/** Starts main.ts and resolves once it listens (its Prometheus endpoint on a free port of its own, unless `env` sets METRICS_PORT). */
export async function startMain(dataDir: string, env: Record<string, string> = {}): Promise<RunningSample> {
  // Both at once: two separate picks can return the same port, and the metrics server binds first.
  const [port, freeMetricsPort] = await getFreePorts(2);
  const metricsPort = env.METRICS_PORT ?? String(freeMetricsPort);
  const child = spawnChildApp(MAIN, { env: { PORT: String(port), METRICS_PORT: metricsPort, DATA_DIR: dataDir, NO_COLOR: '1', ...NO_TRACES, ...env } });
  await child.waitForOutput(/Listening on http/, START_TIMEOUT_MS);
  const url = `http://127.0.0.1:${port}`;
  const call = async (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}${route}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  return { child, port, url, metricsPort, post: (route, body, headers) => call('POST', route, body, headers), get: (route) => call('GET', route) };
}

/** Opens the sample's database file (WAL: safe next to a running app). */
export function openShopDb(dataDir: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(path.join(dataDir, 'shop.sqlite'));
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Orders whose confirmation email is missing or not sent. */
export function ordersWithoutSentEmail(dataDir: string): number[] {
  const db = openShopDb(dataDir);
  try {
    return (
      db.prepare('SELECT o.id FROM orders o LEFT JOIN emails e ON e.order_id = o.id WHERE e.sent_at IS NULL ORDER BY o.id').all() as Array<{ id: number }>
    ).map((r) => r.id);
  } finally {
    db.close();
  }
}

export const order = (n: number) => ({ customerEmail: `customer${n}@example.com`, items: [{ sku: 'TEA-01', quantity: 1 + (n % 3) }, { sku: 'MUG-02', quantity: 1 }] });

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check` resolves true. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}
