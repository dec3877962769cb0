/**
 * Redis faults that used to spin or hang a whole process, observed from outside it (a child
 * process running a real app, test/fixtures/bullmq-fault-app.ts): an invalid Redis URL, a
 * connection ioredis cannot create, a worker whose fetches fail at once (a read-only replica).
 * BullMQ 6.7 retries a failed fetch without any delay when the error is not one of its connection
 * errors: hundreds of thousands of log lines a second, starved timers, a close() that never runs.
 */
import { jest } from '@jest/globals';
import type { ServiceStatus } from '../../src/index.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { getFreePort } from '../support/free-port.js';
import { sleep, within } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

jest.setTimeout(90_000);

let child: ChildApp | undefined;
afterEach(async () => {
  await child?.dispose();
  child = undefined;
});

function start(connection: unknown, extra: Record<string, string> = {}): ChildApp {
  child = spawnChildApp(fixture('bullmq-fault-app.ts'), {
    env: { REDIS_CONNECTION: JSON.stringify(connection), QUEUE: `faults-${process.pid}`, ...extra },
  });
  return child;
}

const lines = (output: string, prefix: string): string[] => output.split('\n').filter((line) => line.startsWith(prefix));
const errorLines = (output: string) => lines(output, 'LOG error ').concat(lines(output, 'LOG warn '));
const ticks = (output: string) => lines(output, 'TICK ').length;
const lastStatus = (output: string): ServiceStatus => JSON.parse(lines(output, 'STATUS ').at(-1)!.slice('STATUS '.length));

/**
 * Over `ms` after now: the log lines the app wrote (bounded, not a flood) and whether its
 * timers still fire (a spinning event loop starves them).
 */
async function observe(app: ChildApp, ms: number): Promise<{ logLines: string[]; ticks: number }> {
  const before = app.output().length;
  const ticksBefore = ticks(app.output());
  await sleep(ms);
  const after = app.output().slice(before);
  return { logLines: errorLines(after), ticks: ticks(app.output()) - ticksBefore };
}

async function stopsCleanly(app: ChildApp): Promise<void> {
  app.kill('SIGTERM');
  const exit = await within(app.exited, 15_000, 'still running' as const);
  expect(exit).not.toBe('still running');
  expect(app.output()).toContain('CLOSED'); // close() ran: the shutdown hooks were not starved
}

describe('an invalid Redis URL', () => {
  it('fails start-up naming the option and the bad port, instead of spinning (with a worker)', async () => {
    const app = start('redis://127.0.0.1:notaport');
    const [failed] = await app.waitForOutput(/FAILED .*/, 30_000);
    expect(failed).toContain('HostingModule.forRoot({ redis })');
    expect(failed).toContain('"notaport"');
    expect(failed).toMatch(/port/);
    expect((await app.exited).code).toBe(1);
    expect(app.output()).not.toContain('READY');
    expect(errorLines(app.output()).length).toBeLessThan(10);
  });

  it('fails start-up without a worker too (it used to log one error a second for ever)', async () => {
    const app = start('redis://127.0.0.1:notaport', { WORKER: '0' });
    const [failed] = await app.waitForOutput(/FAILED .*/, 30_000);
    expect(failed).toContain('"notaport"');
    expect((await app.exited).code).toBe(1);
  });
});

describe('a connection ioredis cannot create (options that pass validation, refused by ioredis)', () => {
  // ioredis throws from its constructor for this combination; BullMQ's connection then rejects for good.
  const refused = { host: '127.0.0.1', port: 6379, replyMapping: 'resp3', protocol: 2 };

  it('is reported once per connection, marks both down, never spins, and close() still runs', async () => {
    const app = start(refused);
    await app.waitForOutput(/READY/, 30_000);
    await app.waitForOutput(/worker: the Redis connection cannot be made/, 15_000);
    const { logLines, ticks: fired } = await observe(app, 3_000);
    expect(logLines).toEqual([]); // nothing more after the two lines
    expect(fired).toBeGreaterThanOrEqual(5); // timers fire: the event loop is free
    const failures = errorLines(app.output()).filter((l) => l.includes('the Redis connection cannot be made'));
    expect(failures.map((l) => l.match(/\) (producer|worker):/)?.[1]).sort()).toEqual(['producer', 'worker']);
    expect(failures[0]).toContain('replyMapping');
    expect(errorLines(app.output()).length).toBeLessThan(10);
    const status = lastStatus(app.output());
    expect(status.connections?.map((c) => [c.name, c.state])).toEqual([
      ['producer', 'down'],
      ['worker', 'down'],
    ]);
    expect(status.lastError?.message).toContain('replyMapping');
    await stopsCleanly(app);
  });
});

describe('a worker whose every fetch fails at once (Redis is a read-only replica)', () => {
  let replica: RedisServerHandle;
  beforeAll(async () => {
    // A replica of a primary that does not exist: it answers, and refuses every write with READONLY.
    replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(await getFreePort())] });
  });
  afterAll(async () => {
    await replica?.stop();
  });

  it('is stopped instead of spinning, logs at a bounded rate, restarts with backoff, and close() still runs', async () => {
    const app = start({ host: replica.host, port: replica.port });
    await app.waitForOutput(/READY/, 30_000);
    const [halted] = await app.waitForOutput(/LOG error Queue "[^"]+" \(bullmq\) worker: stopped after .*/, 20_000);
    expect(halted).toContain('READONLY');
    expect(halted).toContain('restarts in 5 s');
    const { logLines, ticks: fired } = await observe(app, 2_000);
    expect(logLines.length).toBeLessThan(5);
    expect(fired).toBeGreaterThanOrEqual(4);
    const status = lastStatus(app.output());
    const worker = status.connections?.find((c) => c.name === 'worker');
    expect(worker?.state).toBe('down');
    expect(worker?.lastError).toContain('READONLY');
    expect(status.lastError?.message).toContain('worker');
    // The restart finds the same replica: stopped again, the next restart twice as far away.
    await app.waitForOutput(/worker: restarted/, 15_000);
    await app.waitForOutput(/worker: stopped after .*restarts in 10 s/, 15_000);
    expect(errorLines(app.output()).length).toBeLessThan(20); // a flood is hundreds of thousands
    await stopsCleanly(app);
  });
});
