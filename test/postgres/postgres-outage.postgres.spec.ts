/**
 * PostgreSQL outages under a running app, as the registry, the health indicator and the logs show
 * them (as on Redis: test/bullmq/redis-outage-status.spec.ts): each connection of a queue on
 * PostgreSQL (producer, worker, events) goes down with its error and comes back, with one
 * "unreachable" and one "reachable again" line each and no flood of errors in between; enqueue fails
 * fast with QueueUnavailableError while down, or after enqueueTimeoutMs when PostgreSQL does not
 * answer; a queue whose PostgreSQL is down at start opens once it is back.
 */
import { Injectable } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Client } from 'pg';
import { HostingModule, HostingRegistry, InjectQueue, QueueUnavailableError, QueueWorker, type ServiceStatus, type WorkQueue } from '../../src/index.js';
import { HostingHealthIndicator } from '../../src/health/index.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';
import { startHostingApp, waitFor, sleep, type HostingApp } from '../support/hosting-app.js';

const { postgres, url, uniqueName } = bullmqPostgresUnderTest();
const apps: HostingApp[] = [];
afterEach(async () => {
  if (!postgres().running) await postgres().start();
  await Promise.all(apps.splice(0).map((a) => a.app.close()));
});

const stateOf = (status: ServiceStatus | undefined, name: string) => status?.connections?.find((c) => c.name === name)?.state;

async function startApp(name: string, enqueueTimeoutMs = 5_000) {
  const handled: number[] = [];
  @Injectable()
  class Producer {
    constructor(@InjectQueue(name) readonly queue: WorkQueue<number>) {}
  }
  @Injectable()
  class Worker {
    @QueueWorker(name)
    handle(item: number) {
      handled.push(item);
    }
  }
  const started = await startHostingApp({
    hosting: { postgres: url(), shutdownTimeoutMs: 5_000 },
    imports: [HostingModule.registerQueue({ name, backend: { type: 'bullmq', enqueueTimeoutMs } }), TerminusModule],
    providers: [Producer, Worker, HostingHealthIndicator],
  });
  apps.push(started);
  const registry = started.app.get(HostingRegistry);
  registry.onQueueEvent(name, 'completed', () => undefined); // opens the events connection
  return { ...started, registry, handled, queue: started.app.get(Producer).queue, health: started.app.get(HostingHealthIndicator) };
}

describe('a PostgreSQL outage under a running app', () => {
  it('marks each connection down with its error, takes readiness down naming them, fails enqueue fast, logs each outage and recovery once per connection, and the worker takes the items enqueued after', async () => {
    const name = uniqueName('outage');
    const { registry, handled, queue, health, logger } = await startApp(name);
    await waitFor(() => ['producer', 'worker', 'events'].every((c) => stateOf(registry.get(name), c) === 'up'), 20_000, 'every connection up');
    await queue.enqueue(1);
    await waitFor(() => handled.length === 1, 15_000, 'the first item');

    await postgres().stop();
    await waitFor(() => ['producer', 'worker', 'events'].every((c) => stateOf(registry.get(name), c) === 'down'), 20_000, 'every connection down');
    const status = registry.get(name)!;
    expect(status.state).toBe('running');
    for (const connection of status.connections!) expect(connection.lastError).toEqual(expect.any(String));
    expect(status.lastError?.message).toMatch(/^PostgreSQL connections down: producer since \S+ \(.+\); worker since \S+ \(.+\); events since/);
    const ready = health.isReady('ready').ready as { status: string; connections: Array<Record<string, string>> };
    expect(ready.status).toBe('down');
    expect(ready.connections.map((c) => c.connection).sort()).toEqual(['events', 'producer', 'worker']);
    const started = Date.now();
    await expect(queue.enqueue(2)).rejects.toThrow(new RegExp(`^Queue "${name}": the item was not added, PostgreSQL is unreachable \\(`));
    await expect(queue.enqueue(2)).rejects.toBeInstanceOf(QueueUnavailableError);
    expect(Date.now() - started).toBeLessThan(2_500); // at once: no wait for the 5 s enqueue timeout
    await sleep(3_000); // an outage of some seconds: retries, probes and reconnects in the background

    await postgres().start();
    await waitFor(() => ['producer', 'worker', 'events'].every((c) => stateOf(registry.get(name), c) === 'up'), 30_000, 'every connection back up');
    expect(health.isReady('ready')).toEqual({ ready: { status: 'up', state: 'running' } });
    await queue.enqueue(3);
    await queue.enqueue(4);
    await waitFor(() => handled.length === 3, 30_000, 'the items enqueued after');
    expect(handled).toEqual([1, 3, 4]);

    for (const part of ['producer', 'worker', 'events']) {
      const subject = `Queue "${name}" (bullmq on PostgreSQL) ${part}`;
      expect(logger.find('error', `${subject}: PostgreSQL is unreachable`)).toHaveLength(1);
      expect(logger.find('log', `${subject}: PostgreSQL is reachable again after`)).toHaveLength(1);
    }
    // No flood: the few seconds down were a handful of lines, not one per retry.
    expect(logger.errors().length).toBeLessThan(15);
    expect(logger.errors().filter((e) => /Redis/.test(e.message))).toEqual([]);
  }, 120_000);

  it('an enqueue PostgreSQL does not answer (a table lock) rejects after enqueueTimeoutMs with QueueUnavailableError', async () => {
    const name = uniqueName('slow');
    const { registry, queue } = await startApp(name, 500);
    await waitFor(() => stateOf(registry.get(name), 'producer') === 'up', 20_000, 'the producer up');
    const blocker = new Client({ connectionString: url() });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE bullmq.job IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      const refused = await queue.enqueue(1).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(QueueUnavailableError);
      expect((refused as Error).message).toBe(
        `Queue "${name}": PostgreSQL did not confirm the item within 500 ms (backend.enqueueTimeoutMs); the producer connection is up, so the item was not added unless PostgreSQL was only slow (then it was, and a retry adds it twice); try again later`,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
    }
  }, 60_000);

  it('PostgreSQL down at start: start-up goes on with the producer down and enqueue failing fast; once it is back the queue opens (migrated) and works', async () => {
    const name = uniqueName('down-at-start');
    await postgres().stop();
    const { registry, handled, queue, logger } = await startApp(name);
    await waitFor(() => stateOf(registry.get(name), 'producer') === 'down', 10_000, 'the producer down');
    await expect(queue.enqueue(1)).rejects.toBeInstanceOf(QueueUnavailableError);
    await postgres().start();
    await waitFor(() => ['producer', 'worker'].every((c) => stateOf(registry.get(name), c) === 'up'), 30_000, 'the queue open');
    await queue.enqueue(2);
    await waitFor(() => handled.length === 1, 15_000, 'the item enqueued once it is back');
    expect(handled).toEqual([2]);
    expect(logger.find('error', `Queue "${name}" (bullmq on PostgreSQL) producer: PostgreSQL is unreachable`)).toHaveLength(1);
  }, 90_000);
});
