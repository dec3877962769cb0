import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listenForNotifications, type NotifyListener } from '../systemd/notify-listener.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { getFreePort, getFreePorts } from '../support/free-port.js';
import { repoRoot } from '../support/paths.js';
import { eventually, NO_TRACES, openShopDb, ordersWithoutSentEmail, START_TIMEOUT_MS, startMain, tempDataDir, WORKER } from './sample-process.js';

/** Real processes on a busy 2-core machine (the npm run sample case compiles with tsc first). */
const E2E_TIMEOUT_MS = 240_000;

describe('sample app entries', () => {
  const children: ChildApp[] = [];
  let listener: NotifyListener | undefined;
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.dispose()));
    await listener?.close();
    listener = undefined;
  });

  it('worker.ts runs the background work without HTTP: it sends emails left pending by a previous run', async () => {
    const dataDir = tempDataDir();
    // A shop that stopped with an order whose email never went out.
    const first = await startMain(dataDir, { EMAIL_SEND_MS: '60000', SHUTDOWN_TIMEOUT_MS: '200' });
    children.push(first.child);
    const { body } = await first.post('/orders', { customerEmail: 'late@example.com', items: [{ sku: 'KTL-03', quantity: 1 }] });
    await first.child.waitForOutput(`Sending "Your order #${body.id} is confirmed"`);
    first.child.kill('SIGTERM');
    expect((await first.child.exited).code).toBe(0);
    expect(ordersWithoutSentEmail(dataDir)).toEqual([body.id]);

    const metricsPort = await getFreePort();
    const worker = spawnChildApp(WORKER, { env: { DATA_DIR: dataDir, EMAIL_SEND_MS: '50', METRICS_PORT: String(metricsPort), NO_COLOR: '1', ...NO_TRACES } });
    children.push(worker);
    await worker.waitForOutput('Worker running (emails queue: in memory)', START_TIMEOUT_MS);
    await worker.waitForOutput(`Metrics: http://127.0.0.1:${metricsPort}/metrics`);
    await worker.waitForOutput(`Sent confirmation of order #${body.id}`, 30_000);
    expect(ordersWithoutSentEmail(dataDir)).toEqual([]);
    expect(worker.output()).not.toMatch(/Listening on|Mapped \{/);

    // catalog.sync (a @BackgroundService) adds the supplier's fourth product to the three seeded ones.
    const catalogSize = () => {
      const db = openShopDb(dataDir);
      try {
        return (db.prepare('SELECT COUNT(*) AS n FROM catalog').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    await eventually(() => catalogSize() === 4, 30_000, 'catalog.sync to run');
    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, E2E_TIMEOUT_MS);

  it('under systemd (NOTIFY_SOCKET): READY=1 once listening, WATCHDOG=1 pings, STOPPING=1 on SIGTERM, exit 0', async () => {
    listener = await listenForNotifications();
    const sample = await startMain(tempDataDir(), { NOTIFY_SOCKET: listener.socket, WATCHDOG_USEC: '1000000' });
    children.push(sample.child);
    await listener.waitFor((states) => states.filter((s) => s === 'WATCHDOG=1').length >= 2);
    expect(listener.states()[0]).toBe('READY=1');
    expect((await sample.get('/health')).status).toBe(200); // READY came after the port was open

    sample.child.kill('SIGTERM');
    expect(await sample.child.exited).toEqual({ code: 0, signal: null });
    const states = listener.states();
    expect(states.at(-1)).toBe('STOPPING=1');
    expect(states.filter((s) => s !== 'WATCHDOG=1')).toEqual(['READY=1', 'STOPPING=1']);
    const pid = sample.child.proc.pid;
    expect(listener.notifications.find((n) => n.assignments.includes('READY=1'))!.assignments).toContain(`MAINPID=${pid}`);
  }, E2E_TIMEOUT_MS);

  // The README's first command; it compiles with tsc and runs plain Node (the same in both jest runs).
  // SIGTERM goes to the npm process, as `docker stop` sends it to npm running as PID 1: it must
  // reach the app, which stops gracefully (one summary line), and npm exits with the app's code.
  (process.env.NEST_MAJOR === '12' ? it.skip : it)('npm run sample starts the shop on embedded defaults; SIGTERM to npm stops the app gracefully, exit 0', async () => {
    const [port, metricsPort] = await getFreePorts(2); // both at once: two picks can return the same port
    const dataDir = tempDataDir();
    const proc = spawn('npm', ['run', 'sample'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: String(port), METRICS_PORT: String(metricsPort), DATA_DIR: dataDir, NO_COLOR: '1', NODE_OPTIONS: '', ...NO_TRACES },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (chunk) => (output += chunk));
    proc.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    let appPid: number | undefined;
    try {
      // It prints where to look: the app, its dashboard and health, the metrics endpoint, and where traces go.
      const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
      await eventually(() => output.includes(`Metrics: ${metricsUrl}`), 180_000, `npm run sample to listen; output:\n${output}`);
      expect(output).toContain(`Listening on http://127.0.0.1:${port}`);
      expect(output).toContain(`Dashboard: http://127.0.0.1:${port}/hosting`);
      expect(output).toContain(`Health: http://127.0.0.1:${port}/health`);
      expect(output).toContain('Traces: off (set OTEL_EXPORTER_OTLP_ENDPOINT');
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      expect(response.status).toBe(200);
      expect((await fetch(metricsUrl)).status).toBe(200);
      expect(output).toContain(`SQLite database at ${path.join(dataDir, 'shop.sqlite')}`);
      appPid = Number(/\[Nest\] (\d+)/.exec(output)?.[1]);
      expect(appPid).toBeGreaterThan(0);
      proc.kill('SIGTERM'); // to npm only, not to its process group
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(isRunning(appPid)).toBe(false);
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow(); // nothing serves the port any more
      expect(output).toMatch(
        /Host stopped gracefully in \d+ ms: 2 background services, 3 periodic tasks, 1 queue \(\d+ items? drained, 0 left undelivered\)/,
      );
    } finally {
      proc.kill('SIGKILL');
      if (appPid && isRunning(appPid)) process.kill(appPid, 'SIGKILL');
    }
  }, E2E_TIMEOUT_MS);

  // `npm run sample -- --postgres`: the script starts a local PostgreSQL (kept in DATA_DIR/postgres)
  // and the same shop runs its emails queue on BullMQ's PostgreSQL backend, its periodic tasks
  // exclusive on it; the server dies with the app.
  (process.env.NEST_MAJOR === '12' ? it.skip : it)('npm run sample -- --postgres runs the shop on a PostgreSQL the script starts', async () => {
    const [port, metricsPort] = await getFreePorts(2);
    const dataDir = tempDataDir();
    const proc = spawn('npm', ['run', 'sample', '--', '--postgres'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: String(port), METRICS_PORT: String(metricsPort), DATA_DIR: dataDir, NO_COLOR: '1', NODE_OPTIONS: '', POSTGRES_URL: '', REDIS_URL: '', EMAIL_SEND_MS: '50', ...NO_TRACES },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (chunk) => (output += chunk));
    proc.stderr.on('data', (chunk) => (output += chunk));
    let gone = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    void exited.then(() => (gone = true));
    let appPid: number | undefined;
    try {
      await eventually(() => output.includes(`Metrics: http://127.0.0.1:${metricsPort}/metrics`) || gone, 180_000, 'npm run sample -- --postgres to listen')
        .then(() => expect(gone).toBe(false)).catch((error: Error) => {
        throw new Error(`${error.message}; output:\n${output}`);
      });
      expect(output).toMatch(new RegExp(`sample: PostgreSQL postgres://postgres@127\\.0\\.0\\.1:\\d+/postgres \\(cluster in ${path.join(dataDir, 'postgres').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`));
      appPid = Number(/\[Nest\] (\d+)/.exec(output)?.[1]);
      const placed = await fetch(`http://127.0.0.1:${port}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ customerEmail: 'pg@example.com', items: [{ sku: 'TEA-01', quantity: 1 }] }),
      });
      expect(placed.status).toBe(202);
      const { id } = (await placed.json()) as { id: number };
      await eventually(() => output.includes(`Sent confirmation of order #${id}`), 60_000, `the email of order #${id} to be sent`).catch((error: Error) => {
        throw new Error(`${error.message}; output:\n${output}`);
      });
      // The queue and the exclusive tasks are on PostgreSQL, as the registry tells.
      const status = (await (await fetch(`http://127.0.0.1:${port}/hosting/status.json`)).json()) as { services: Array<{ name: string; kind: string; connections?: Array<{ name: string; state: string }> }> };
      const emails = status.services.find((service) => service.name === 'emails');
      expect(emails?.connections?.length).toBeGreaterThan(0);
      expect(emails?.connections?.every((c) => c.state === 'up')).toBe(true);
      const cleanup = status.services.find((service) => service.name === 'orders.cleanup');
      expect(cleanup?.connections).toEqual([expect.objectContaining({ name: 'postgres', state: 'up' })]);
      proc.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      await eventually(() => !isPostgresRunning(dataDir), 30_000, 'the PostgreSQL server to stop with the app');
    } finally {
      proc.kill('SIGKILL');
      if (appPid && isRunning(appPid)) process.kill(appPid, 'SIGKILL');
    }
  }, E2E_TIMEOUT_MS);
});

/** Whether the PostgreSQL server in DATA_DIR/postgres still runs (its postmaster.pid names it). */
function isPostgresRunning(dataDir: string): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return pid > 0 && isRunning(pid);
  } catch {
    return false;
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
