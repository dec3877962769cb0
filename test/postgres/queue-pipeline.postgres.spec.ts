/**
 * The queue pipeline on BullMQ's PostgreSQL backend (real PostgreSQL): the shared suite
 * (test/queues/queue-pipeline.behaviour.ts), then what differs from memory, as on Redis: events are
 * the whole cluster's (BullMQ's QueueEvents, read from the database's event table), so a process
 * that does not run the worker hears them, and the process that runs it hears each once.
 */
import { Injectable } from '@nestjs/common';
import { HostingModule, HostingRegistry, InjectQueue, OnQueueEvent, QueueWorker, type QueueEvent, type WorkQueue } from '../../src/index.js';
import { describeQueuePipeline, eventsOpen } from '../queues/queue-pipeline.behaviour.js';
import { bullmqPostgresUnderTest } from '../support/bullmq-under-test.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';

const { backend, url, uniqueName } = bullmqPostgresUnderTest();
describeQueuePipeline('bullmq on PostgreSQL', backend);

describe('queue events on PostgreSQL are the cluster', () => {
  it("a process whose worker is disabled hears the worker process's events through @OnQueueEvent; the worker's process hears each once", async () => {
    const name = uniqueName('cluster-events');
    const heard: Record<'worker' | 'listener', QueueEvent[]> = { worker: [], listener: [] };
    const appOf = (role: 'worker' | 'listener') => {
      @Injectable()
      class Listener {
        @OnQueueEvent(name, ['completed', 'failed', 'deadLettered'])
        on(event: QueueEvent) {
          heard[role].push(event);
        }
      }
      @Injectable()
      class Worker {
        @QueueWorker(name, { enabled: role === 'worker' })
        handle(item: string) {
          if (item === 'bad') throw new Error('bad item');
        }
      }
      @Injectable()
      class Producer {
        constructor(@InjectQueue(name) readonly queue: WorkQueue<string>) {}
      }
      return startHostingApp({
        imports: [HostingModule.registerQueue({ name, backend: 'bullmq' })],
        providers: [Listener, Worker, Producer],
        hosting: { postgres: url() },
      }).then(({ app }) => ({ app, producer: app.get(Producer).queue }));
    };
    const worker = await appOf('worker');
    const listener = await appOf('listener');
    try {
      await eventsOpen(worker.app, name);
      await eventsOpen(listener.app, name);
      const good = await listener.producer.enqueue('good');
      const bad = await listener.producer.enqueue('bad');
      for (const role of ['listener', 'worker'] as const) await waitFor(() => heard[role].length >= 3, 20_000, `three events on the ${role} process`);
      // The cluster's events can come before the worker's own count of the failure (BullMQ's 'failed' after its write).
      await waitFor(() => worker.app.get(HostingRegistry).get(name)?.failed === 1, 10_000, "the worker's count");
      expect(worker.app.get(HostingRegistry).get(name)).toMatchObject({ processed: 1, failed: 1 });
      expect(listener.app.get(HostingRegistry).get(name)).toMatchObject({ processed: 0, failed: 0, state: 'disabled' });
      const last = await listener.producer.enqueue('last');
      for (const role of ['listener', 'worker'] as const)
        await waitFor(() => heard[role].some((e) => e.id === last), 20_000, `the last item's event on the ${role} process`);
      for (const role of ['listener', 'worker'] as const)
        expect(heard[role].map((e) => [e.name, e.id])).toEqual([
          ['completed', good],
          ['failed', bad],
          ['deadLettered', bad],
          ['completed', last],
        ]);
      expect(heard.listener.find((e) => e.name === 'deadLettered')).toMatchObject({ queue: name, id: bad, error: 'bad item' });
    } finally {
      await listener.app.close();
      await worker.app.close();
    }
  });
});
