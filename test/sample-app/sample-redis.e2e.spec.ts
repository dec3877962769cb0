import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';
import { eventually, NO_TRACES, order, ordersWithoutSentEmail, START_TIMEOUT_MS, startMain, tempDataDir, WORKER } from './sample-process.js';

/** Real processes and a real redis-server on a busy 2-core machine. */
const E2E_TIMEOUT_MS = 240_000;

describe('sample app with REDIS_URL (BullMQ backend)', () => {
  const children: ChildApp[] = [];
  let redis: RedisServerHandle | undefined;
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.dispose()));
    await redis?.stop();
    redis = undefined;
  });

  it('main.ts and two worker.ts processes share the emails queue; SIGTERM stops each with exit 0', async () => {
    redis = await startRedisServer();
    const dataDir = tempDataDir();
    const env = { REDIS_URL: redis.url, EMAIL_SEND_MS: '150', NO_COLOR: '1', DATA_DIR: dataDir };
    const main = await startMain(dataDir, env);
    children.push(main.child);
    const workers = [1, 2].map(() => spawnChildApp(WORKER, { env: { ...env, METRICS_PORT: 'off', ...NO_TRACES } }));
    children.push(...workers);
    for (const worker of workers) await worker.waitForOutput('Worker running (emails queue: Redis)', START_TIMEOUT_MS);

    const ids: number[] = [];
    for (let n = 1; n <= 30; n++) {
      const { status, body } = await main.post('/orders', order(n), { 'x-request-id': `req-${n}` });
      expect({ status, body }).toMatchObject({ status: 202 }); // on failure, shows the error body too
      ids.push(body.id);
    }
    await eventually(() => ordersWithoutSentEmail(dataDir).length === 0, 90_000, 'every email sent');

    // Each email was sent once, and the work was spread over the processes. A process writes "sent"
    // to the database before its log line, which then crosses a pipe: wait for the lines too.
    const processes = [main.child, ...workers];
    const sentByNow = () => processes.map((p) => [...p.output().matchAll(/Sent confirmation of order #(\d+)/g)].map((m) => Number(m[1])));
    await eventually(() => sentByNow().flat().length >= ids.length, 30_000, 'a "Sent" line for every order');
    const sentBy = sentByNow();
    expect(sentBy.flat().sort((a, b) => a - b)).toEqual(ids);
    expect(sentBy.filter((sent) => sent.length > 0).length).toBeGreaterThanOrEqual(2);
    // Whichever process sent it, the job saw the request id of the POST that placed its order (a BullMQ job header, nestjs-cls).
    const sending = processes.flatMap((p) => [...p.output().matchAll(/Sending "Your order #\d+ is confirmed" to customer(\d+)@example\.com \(request (\S+)\)/g)]);
    expect(sending.length).toBeGreaterThanOrEqual(ids.length);
    for (const [, n, requestId] of sending) expect(requestId).toBe(`req-${n}`);

    for (const p of processes) p.kill('SIGTERM');
    for (const p of processes) expect(await p.exited).toEqual({ code: 0, signal: null });
  }, E2E_TIMEOUT_MS);
});
