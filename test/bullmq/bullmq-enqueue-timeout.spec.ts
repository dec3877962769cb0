/**
 * `enqueue` on a BullMQ queue always settles within a bounded time: at once while the producer
 * connection is known to be down, after `enqueueTimeoutMs` (default 5000) when Redis does not
 * answer, and at `close()` for the ones still waiting. It used to stay pending for ever when Redis
 * was unreachable at start-up, so an HTTP handler never answered.
 */
import { jest } from '@jest/globals';
import { Controller, Get, HttpException, Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as net from 'node:net';
import { HostingModule, HostingRegistry, InjectQueue, QueueClosedError, QueueUnavailableError, QueueWorker, type WorkQueue } from '../../src/index.js';
import { BullMqQueueBackend } from '../../src/queues/bullmq/bullmq-queue-backend.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { getFreePort } from '../support/free-port.js';
import { sleep, waitFor, within } from '../support/hosting-app.js';

jest.setTimeout(60_000);

const QUEUE = `enqueue-timeout-${process.pid}`;

/** A TCP server that accepts connections and never answers: a Redis that hangs. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** How long `promise` took to settle, and how: at most `limitMs` (then 'pending'). */
async function settleWithin<R>(promise: Promise<R>, limitMs: number): Promise<{ ms: number; outcome: 'resolved' | 'rejected' | 'pending'; value: unknown }> {
  const started = Date.now();
  const result = await within(
    promise.then(
      (value) => ({ outcome: 'resolved' as const, value }),
      (value: unknown) => ({ outcome: 'rejected' as const, value }),
    ),
    limitMs,
    { outcome: 'pending' as const, value: undefined },
  );
  return { ms: Date.now() - started, ...result };
}

@Injectable()
class Producer {
  constructor(@InjectQueue(QUEUE) readonly queue: WorkQueue<{ orderId: number }>) {}
}

@Injectable()
class Mailer {
  @QueueWorker(QUEUE)
  send() {}
}

@Controller('orders')
class OrdersController {
  constructor(private readonly producer: Producer) {}

  @Get('place')
  async place() {
    try {
      return { id: await this.producer.queue.enqueue({ orderId: 1 }) };
    } catch (error) {
      if (error instanceof QueueUnavailableError) throw new HttpException({ retry: true, message: error.message }, 503);
      throw error;
    }
  }
}

async function startWebApp(port: number, backend: Record<string, unknown> = {}): Promise<{ app: INestApplication; get(path: string): Promise<{ status: number; body: any }> }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      HostingModule.forRoot({ redis: { host: '127.0.0.1', port }, shutdownTimeoutMs: 5_000 }),
      HostingModule.registerQueue({ name: QUEUE, backend: { type: 'bullmq', ...backend } }),
    ],
    controllers: [OrdersController],
    providers: [Producer, Mailer],
  })
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return {
    app,
    async get(path) {
      const response = await fetch(`${base}${path}`);
      return { status: response.status, body: await response.json() };
    },
  };
}

describe('BullMQ enqueue while Redis is unreachable', () => {
  let app: INestApplication | undefined;
  let hole: Awaited<ReturnType<typeof blackHole>> | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    await hole?.close();
    hole = undefined;
  });

  it('at start-up (a closed port): the HTTP handler answers 503, at once once the producer is known to be down', async () => {
    const closedPort = await getFreePort();
    const web = await startWebApp(closedPort);
    app = web.app;
    // The first request may race the first connection attempt: it waits at most enqueueTimeoutMs (5 s).
    const first = await settleWithin(web.get('/orders/place'), 15_000);
    expect(first.outcome).toBe('resolved');
    expect(first.ms).toBeLessThan(9_000);
    expect((first.value as { status: number }).status).toBe(503);
    const registry = app.get(HostingRegistry);
    await waitFor(() => registry.get(QUEUE)?.connections?.find((c) => c.name === 'producer')?.state === 'down', 10_000, 'producer down');
    const second = await settleWithin(web.get('/orders/place'), 15_000);
    expect(second.outcome).toBe('resolved');
    expect(second.ms).toBeLessThan(3_000); // no waiting for the 5 s timeout while the producer is known to be down
    const { status, body } = second.value as { status: number; body: { message: string } };
    expect(status).toBe(503);
    expect(body.message).toContain(`Queue "${QUEUE}": the item was not added, Redis is unreachable (`);
    expect(body.message).toContain('ECONNREFUSED');
    const closing = await settleWithin(app.close(), 15_000);
    app = undefined;
    expect(closing.outcome).toBe('resolved');
  });

  it('when Redis accepts connections but never answers: enqueue rejects after enqueueTimeoutMs (5 s by default)', async () => {
    hole = await blackHole();
    const web = await startWebApp(hole.port);
    app = web.app;
    const producer = app.get(Producer);
    const started = Date.now();
    const settled = await settleWithin(producer.queue.enqueue({ orderId: 2 }), 15_000);
    expect(settled.outcome).toBe('rejected');
    expect(settled.value).toBeInstanceOf(QueueUnavailableError);
    expect((settled.value as Error).message).toContain('Redis did not confirm the item within 5000 ms (backend.enqueueTimeoutMs); the producer connection is connecting');
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
    expect(Date.now() - started).toBeLessThan(9_000);
  });

  it("registerQueue's backend.enqueueTimeoutMs sets the bound", async () => {
    hole = await blackHole();
    const web = await startWebApp(hole.port, { enqueueTimeoutMs: 300 });
    app = web.app;
    const settled = await settleWithin(app.get(Producer).queue.enqueue({ orderId: 4 }), 15_000);
    expect(settled.outcome).toBe('rejected');
    expect((settled.value as Error).message).toContain('within 300 ms (backend.enqueueTimeoutMs)');
    expect(settled.ms).toBeLessThan(4_000); // the 5 s default would not have been reached
  });

  it('an enqueue still waiting when the app closes settles at once, and close() does not hang', async () => {
    hole = await blackHole();
    const web = await startWebApp(hole.port);
    app = web.app;
    const pending = app.get(Producer).queue.enqueue({ orderId: 3 });
    await sleep(300);
    const closing = app.close();
    app = undefined;
    const settled = await settleWithin(pending, 3_000); // well before its own 5 s timeout
    expect(settled.outcome).toBe('rejected');
    expect(settled.value instanceof QueueUnavailableError || settled.value instanceof QueueClosedError).toBe(true);
    expect((await settleWithin(closing, 15_000)).outcome).toBe('resolved');
  });
});

describe('BullMqQueueBackend enqueueTimeoutMs', () => {
  let hole: Awaited<ReturnType<typeof blackHole>>;
  const backends: Array<BullMqQueueBackend<unknown>> = [];
  beforeEach(async () => {
    hole = await blackHole();
  });
  afterEach(async () => {
    await Promise.all(backends.splice(0).map((b) => b.dispose()));
    await hole.close();
  });
  const backend = (enqueueTimeoutMs: number) => {
    const created = new BullMqQueueBackend<unknown>({
      queueName: `timeout-${process.pid}-${enqueueTimeoutMs}`,
      connection: { host: '127.0.0.1', port: hole.port },
      enqueueTimeoutMs,
      logger: new CaptureLogger(),
    });
    backends.push(created);
    return created;
  };

  it('is configurable', async () => {
    const settled = await settleWithin(backend(300).enqueue({ n: 1 }), 5_000);
    expect(settled.outcome).toBe('rejected');
    expect(settled.value).toBeInstanceOf(QueueUnavailableError);
    expect((settled.value as Error).message).toContain('within 300 ms (backend.enqueueTimeoutMs)');
    expect(settled.ms).toBeGreaterThanOrEqual(250);
    expect(settled.ms).toBeLessThan(3_000);
  });

  it('bounds each waiting enqueue from its own call: a later one outlives an earlier one that timed out', async () => {
    const queue = backend(1_000);
    const firstStarted = Date.now();
    const first = settleWithin(queue.enqueue({ n: 1 }), 10_000);
    await sleep(600);
    const secondStarted = Date.now();
    let secondSettled = false;
    const second = settleWithin(queue.enqueue({ n: 2 }), 10_000).finally(() => (secondSettled = true));
    const a = await first;
    expect(a.outcome).toBe('rejected');
    expect(a.value).toBeInstanceOf(QueueUnavailableError);
    expect(Date.now() - firstStarted).toBeGreaterThanOrEqual(950);
    expect(secondSettled).toBe(false); // not swept out with the first one
    const b = await second;
    expect(b.outcome).toBe('rejected');
    expect(b.value).toBeInstanceOf(QueueUnavailableError);
    expect((b.value as Error).message).toContain('within 1000 ms (backend.enqueueTimeoutMs)');
    expect(Date.now() - secondStarted).toBeGreaterThanOrEqual(950);
  });

  it("rejects with the signal's reason as soon as the enqueue's signal aborts, long before its timeout", async () => {
    const queue = backend(60_000);
    const controller = new AbortController();
    const pending = settleWithin(queue.enqueue({ n: 3 }, controller.signal), 5_000);
    await sleep(100);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    const settled = await pending;
    expect(settled.outcome).toBe('rejected');
    expect(settled.value).toBe(reason);
    expect(settled.ms).toBeLessThan(3_000);
  });

  it('is validated: a timeout longer than one Node timer is refused at construction', () => {
    expect(() => backend(2 ** 31)).toThrow('HostingModule.registerQueue("timeout-');
    expect(() => backend(2 ** 31)).toThrow('option "backend.enqueueTimeoutMs" must be a number of milliseconds from 1 to 2147483647');
  });

  it('dispose settles the enqueues still waiting (QueueClosedError), however long their timeout', async () => {
    const queue = backend(60_000);
    const pending = queue.enqueue({ n: 2 });
    await sleep(200);
    const disposing = queue.dispose();
    const settled = await settleWithin(pending, 2_000);
    expect(settled.outcome).toBe('rejected');
    expect(settled.value).toBeInstanceOf(QueueClosedError);
    await disposing;
  });
});
