/**
 * Redis outages under a running app, as the registry, the health indicator and the logs show them:
 * each connection (a BullMQ queue's producer and worker, the Redis of exclusive periodic tasks)
 * has its own state and its own "unreachable" / "reachable again" lines. A queue's status used to
 * stay `running` with no lastError while its worker could not reach Redis, readiness stayed up,
 * and the one "reachable again" line could come from the producer while the worker was still down.
 */
import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Redis } from 'ioredis';
import { HostingModule, HostingRegistry, InjectQueue, Periodic, QueueWorker, type ServiceStatus, type WorkQueue } from '../../src/index.js';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { REDIS_RECOVERED } from '../../src/distributed/redis.messages.js';
import { CaptureLogger, type LogEntry } from '../support/capture-logger.js';
import { startHostingApp, waitFor, type HostingApp } from '../support/hosting-app.js';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

jest.setTimeout(90_000);

const QUEUE = `outage-${process.pid}`;
const TASK = `outage-report-${process.pid}`;
const PRODUCER = `Queue "${QUEUE}" (bullmq) producer`;
const WORKER = `Queue "${QUEUE}" (bullmq) worker`;
const GATE = 'Exclusive periodic tasks';

@Injectable()
class Producer {
  constructor(@InjectQueue(QUEUE) readonly queue: WorkQueue<number>) {}
}

const delivered: number[] = [];
@Injectable()
class Worker {
  @QueueWorker(QUEUE)
  handle(item: number) {
    delivered.push(item);
  }
}

@Injectable()
class Report {
  @Periodic({ every: 3_600_000, name: TASK }, { exclusive: true })
  run() {}
}

/** What the app showed at the moment a line was logged. */
interface Moment {
  entry: LogEntry;
  queue: ServiceStatus;
  task: ServiceStatus;
  ready: Record<string, unknown>;
}

/** Records, with each Redis line, the registry and the readiness at that very moment. */
class WitnessLogger extends CaptureLogger {
  readonly moments: Moment[] = [];
  witness?: () => Omit<Moment, 'entry'>;

  override log(message: unknown, ...rest: unknown[]) {
    super.log(message, ...rest);
    this.record();
  }

  override error(message: unknown, ...rest: unknown[]) {
    super.error(message, ...rest);
    this.record();
  }

  private record() {
    const entry = this.entries.at(-1)!;
    if (this.witness && /Redis is (un)?reachable/.test(entry.message)) this.moments.push({ entry, ...this.witness() });
  }

  lines(subject: string, what: 'unreachable' | 'reachable again'): Moment[] {
    return this.moments.filter((m) => m.entry.message.startsWith(`${subject}: Redis is ${what}`));
  }
}

const stateOf = (status: ServiceStatus | undefined, name: string) => status?.connections?.find((c) => c.name === name)?.state;

async function startApp(redis: RedisServerHandle): Promise<{ started: HostingApp; logger: WitnessLogger }> {
  const logger = new WitnessLogger();
  const started = await startHostingApp({
    hosting: { redis: { host: redis.host, port: redis.port }, shutdownTimeoutMs: 5_000 },
    imports: [HostingModule.registerQueue({ name: QUEUE, backend: 'bullmq' }), TerminusModule],
    providers: [Producer, Worker, Report, HostingHealthIndicator],
  });
  // The app logs through Nest's Logger: route it to the witness from here on.
  started.app.useLogger(logger);
  const registry = started.app.get(HostingRegistry);
  const health = started.app.get(HostingHealthIndicator);
  logger.witness = () => ({ queue: registry.get(QUEUE)!, task: registry.get(TASK)!, ready: health.isReady('ready').ready as Record<string, unknown> });
  await waitFor(
    () => stateOf(registry.get(QUEUE), 'producer') === 'up' && stateOf(registry.get(QUEUE), 'worker') === 'up' && stateOf(registry.get(TASK), 'redis') === 'up',
    15_000,
    'every connection up',
  );
  return { started, logger };
}

describe('a Redis outage under a running app', () => {
  let redis: RedisServerHandle;
  let started: HostingApp | undefined;
  beforeEach(async () => {
    redis = await startRedisServer();
  });
  afterEach(async () => {
    await started?.app.close();
    started = undefined;
    await redis.stop();
  });

  it('marks each connection down with its error, takes readiness down naming them, and logs each outage and recovery once per connection', async () => {
    const app = await startApp(redis);
    started = app.started;
    const { logger } = app;
    const registry = started.app.get(HostingRegistry);
    const health = started.app.get(HostingHealthIndicator);
    expect(health.isReady('ready')).toEqual({ ready: { status: 'up', state: 'running' } });
    expect(registry.get(QUEUE)!.lastError).toBeUndefined();

    await redis.stop();
    await waitFor(
      () => ['producer', 'worker'].every((c) => stateOf(registry.get(QUEUE), c) === 'down') && stateOf(registry.get(TASK), 'redis') === 'down',
      15_000,
      'every connection down',
    );
    const queue = registry.get(QUEUE)!;
    expect(queue.state).toBe('running');
    expect(queue.lastError?.message).toMatch(/^Redis connections down: producer since \S+ \(.+\); worker since \S+ \(.+\)$/);
    for (const connection of queue.connections!) expect(connection.lastError).toEqual(expect.any(String));
    const ready = health.isReady('ready').ready as { status: string; state: string; connections: Array<Record<string, string>> };
    expect(ready.status).toBe('down');
    expect(ready.state).toBe('running');
    expect(ready.connections.map((c) => `${c.service}/${c.connection}`).sort()).toEqual([`${QUEUE}/producer`, `${QUEUE}/worker`, `${TASK}/redis`].sort());
    expect(ready.connections.every((c) => typeof c.since === 'string' && typeof c.error === 'string')).toBe(true);
    await expect(started.app.get(Producer).queue.enqueue(1)).rejects.toThrow(`Queue "${QUEUE}": the item was not added, Redis is unreachable`);

    await redis.start();
    for (const subject of [PRODUCER, WORKER, GATE])
      await waitFor(() => logger.lines(subject, 'reachable again').length > 0, 20_000, `${subject} reachable again`);
    // One line per connection and outage; each "reachable again" was logged when that very connection was back.
    for (const subject of [PRODUCER, WORKER, GATE]) {
      expect([subject, logger.lines(subject, 'unreachable').length]).toEqual([subject, 1]);
      expect([subject, logger.lines(subject, 'reachable again').length]).toEqual([subject, 1]);
      const [line] = logger.lines(subject, 'reachable again');
      expect(line.entry.message).toMatch(new RegExp(`^${REDIS_RECOVERED(subject, 0).replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(' 0 ms', ' \\d+ ms')}$`));
      const state = subject === GATE ? stateOf(line.task, 'redis') : stateOf(line.queue, subject === PRODUCER ? 'producer' : 'worker');
      expect([subject, state]).toEqual([subject, 'up']);
    }
    await waitFor(() => (health.isReady('ready').ready as { status: string }).status === 'up', 15_000, 'ready again');
    expect(registry.get(QUEUE)!.lastError).toBeUndefined();
    await started.app.get(Producer).queue.enqueue(2);
    await waitFor(() => delivered.includes(2), 15_000, 'delivery resumed');
  });

  it("reports the worker's connection on its own: its blocking connection lost while the producer stays up", async () => {
    const app = await startApp(redis);
    started = app.started;
    const { logger } = app;
    const admin = new Redis(redis.port, redis.host);
    try {
      // The worker's blocking connection is the one waiting in BZPOPMIN (once the worker has started fetching).
      let blocking: string | undefined;
      const deadline = Date.now() + 15_000;
      while (!blocking && Date.now() < deadline) {
        blocking = ((await admin.client('LIST')) as string).split('\n').find((line) => / cmd=bzpopmin /.test(line));
        if (!blocking) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(blocking).toBeDefined();
      await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(blocking!)![1]!);
    } finally {
      admin.disconnect();
    }
    await waitFor(() => logger.lines(WORKER, 'reachable again').length > 0, 15_000, 'worker reachable again');
    const [down] = logger.lines(WORKER, 'unreachable');
    // A killed socket is usually just closed; some kernels report a reset first.
    expect(down.entry.message).toMatch(new RegExp(`^${WORKER.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: Redis is unreachable \\((the connection to Redis was closed; reconnecting|.*ECONNRESET.*)\\); retrying`));
    // At that moment: the worker down, the producer up, readiness down naming the worker only.
    expect(stateOf(down.queue, 'worker')).toBe('down');
    expect(stateOf(down.queue, 'producer')).toBe('up');
    expect(down.queue.lastError?.message).toMatch(/^Redis connection down: worker since /);
    expect(down.ready).toMatchObject({ status: 'down', connections: [{ service: QUEUE, connection: 'worker' }] });
    const [up] = logger.lines(WORKER, 'reachable again');
    expect(stateOf(up.queue, 'worker')).toBe('up');
    expect(logger.lines(PRODUCER, 'unreachable')).toEqual([]);
    expect(logger.lines(PRODUCER, 'reachable again')).toEqual([]);
    expect(logger.lines(GATE, 'unreachable')).toEqual([]);
    await started.app.get(Producer).queue.enqueue(3);
    await waitFor(() => delivered.includes(3), 15_000, 'the worker fetches again');
  });
});

describe('a Redis that refuses the credentials (NOAUTH / WRONGPASS)', () => {
  let redis: RedisServerHandle;
  let started: HostingApp | undefined;
  beforeAll(async () => {
    redis = await startRedisServer();
    const admin = new Redis(redis.port, redis.host);
    await admin.config('SET', 'requirepass', 'the-right-one');
    admin.disconnect();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await started?.app.close();
    started = undefined;
  });

  it.each([
    ['no password', {}, 'NOAUTH'],
    ['a wrong password', { password: 'not-it' }, 'WRONGPASS'],
  ])('with %s: both connections down with the reason, one line each, enqueue rejects at once, not ready', async (_label, credentials, reason) => {
    started = await startHostingApp({
      hosting: { redis: { host: redis.host, port: redis.port, ...credentials }, shutdownTimeoutMs: 5_000 },
      imports: [HostingModule.registerQueue({ name: QUEUE, backend: 'bullmq' }), TerminusModule],
      providers: [Producer, Worker, HostingHealthIndicator],
    });
    const { logger } = started;
    const registry = started.app.get(HostingRegistry);
    await waitFor(() => ['producer', 'worker'].every((c) => stateOf(registry.get(QUEUE), c) === 'down'), 15_000, 'both down');
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // several reconnect attempts, each refused
    for (const connection of registry.get(QUEUE)!.connections!) expect(connection.lastError).toContain(reason);
    expect(registry.get(QUEUE)!.lastError?.message).toContain(reason);
    const errors = logger.errors().map((e) => e.message);
    expect(errors.filter((m) => m.startsWith(`${PRODUCER}: Redis is unreachable (${reason}`))).toHaveLength(1);
    expect(errors.filter((m) => m.startsWith(`${WORKER}: Redis is unreachable (${reason}`))).toHaveLength(1);
    expect(errors.length).toBeLessThanOrEqual(3); // no line per reconnect attempt
    const startedAt = Date.now();
    await expect(started.app.get(Producer).queue.enqueue(1)).rejects.toThrow(reason);
    expect(Date.now() - startedAt).toBeLessThan(2_500); // under the 5 s enqueue timeout
    expect(started.app.get(HostingHealthIndicator).isReady('ready').ready).toMatchObject({ status: 'down' });
  });
});
