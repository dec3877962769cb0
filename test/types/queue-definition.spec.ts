/**
 * `defineQueue`: one object with the queue's name and item type, for `registerQueue`,
 * `@InjectQueue` and `@QueueWorker`. Type assertions (expect-type, `@ts-expect-error`) are checked
 * by ts-jest in both runs; the app parts run a real Nest app.
 */
import { Injectable } from '@nestjs/common';
import { expectTypeOf } from 'expect-type';
import {
  HostingModule,
  InjectQueue,
  QueueFullError,
  QueueWorker,
  WorkQueue,
  defineQueue,
  getQueueToken,
  type JobContext,
  type QueueDefinition,
  type QueueItemOf,
  type QueueOf,
} from '../../src/index.js';
import { INVALID_QUEUE_ARGUMENT, INVALID_QUEUE_DEFINITION, INVALID_QUEUE_OPTION, UNKNOWN_OPTION } from '../../src/hosting.messages.js';
import { startHostingApp, waitFor, type HostingApp } from '../support/hosting-app.js';

interface EmailJob {
  to: string;
  subject: string;
}
const EMAILS = defineQueue<EmailJob>('definition-emails');

describe('defineQueue types', () => {
  it('carries the item type to QueueOf, QueueItemOf and WorkQueue.enqueue', () => {
    expectTypeOf(EMAILS).toEqualTypeOf<QueueDefinition<EmailJob>>();
    expectTypeOf<QueueItemOf<typeof EMAILS>>().toEqualTypeOf<EmailJob>();
    expectTypeOf<QueueOf<typeof EMAILS>>().toEqualTypeOf<WorkQueue<EmailJob>>();
    expectTypeOf<QueueOf<typeof EMAILS>['enqueue']>().parameter(0).toEqualTypeOf<EmailJob>();
    expectTypeOf<QueueOf<typeof EMAILS>['enqueue']>().returns.toEqualTypeOf<Promise<string>>();
  });

  it("types registerQueue's callbacks with the item type, and refuses a name or an unknown option beside the definition", () => {
    HostingModule.registerQueue(EMAILS, {
      capacity: 10,
      onDropped: (item, reason) => expectTypeOf(item).toEqualTypeOf<EmailJob>() && reason,
      onFailed: (item) => expectTypeOf(item).toEqualTypeOf<EmailJob>(),
    });
    expect(() =>
      // @ts-expect-error -- the name comes from the definition
      HostingModule.registerQueue(EMAILS, { name: 'other' }),
    ).toThrow(INVALID_QUEUE_OPTION(EMAILS.name, 'name', 'unset (the name comes from the queue definition)', 'other'));
    expect(() =>
      // @ts-expect-error -- a typo
      HostingModule.registerQueue(EMAILS, { capacty: 10 }),
    ).toThrow(UNKNOWN_OPTION(`HostingModule.registerQueue("${EMAILS.name}")`, 'capacty', 'capacity', ['name', 'capacity', 'fullMode', 'backend', 'onDropped', 'onFailed', 'deadLetters']));
    // The options-with-a-name form still works, typed by its callbacks.
    HostingModule.registerQueue({ name: 'definition-plain', onDropped: (item: EmailJob) => item.to });
  });

  it('refuses a definition of another item type where the worker is typed', () => {
    const INVOICES = defineQueue<{ invoiceId: number }>('definition-invoices');
    @Injectable()
    class Worker {
      // @ts-expect-error -- the queue carries { invoiceId }, the method takes EmailJob
      @QueueWorker(INVOICES)
      send(job: EmailJob) {
        return job.to;
      }
    }
    expect(typeof Worker).toBe('function');
  });

  it('refuses a name that is not a non-empty string, at run time', () => {
    expect(() => defineQueue('')).toThrow(INVALID_QUEUE_DEFINITION(''));
    // @ts-expect-error -- a number is not a name
    expect(() => defineQueue(7)).toThrow(INVALID_QUEUE_DEFINITION(7));
    // @ts-expect-error -- neither a name nor a definition
    expect(() => InjectQueue({})).toThrow(INVALID_QUEUE_ARGUMENT('@InjectQueue', {}));
  });

  it('is frozen, and has the same DI token as its name', () => {
    expect(Object.isFrozen(EMAILS)).toBe(true);
    expect(EMAILS).toEqual({ name: 'definition-emails' });
    expect(getQueueToken(EMAILS)).toBe(getQueueToken('definition-emails'));
  });
});

describe('defineQueue in a Nest app', () => {
  let started: HostingApp | undefined;
  afterEach(async () => {
    await started?.app.close();
    started = undefined;
  });

  it('registers, injects and feeds the worker through the one definition', async () => {
    const received: Array<{ job: EmailJob; queue: string }> = [];

    @Injectable()
    class Mailer {
      constructor(@InjectQueue(EMAILS) readonly emails: QueueOf<typeof EMAILS>) {}
    }

    @Injectable()
    class Sender {
      @QueueWorker(EMAILS, { concurrency: 2 })
      async send(job: EmailJob, ctx: JobContext) {
        received.push({ job, queue: ctx.queue });
      }
    }

    started = await startHostingApp({ imports: [HostingModule.registerQueue(EMAILS, { capacity: 10 })], providers: [Mailer, Sender] });
    const emails = started.app.get(Mailer).emails;
    expect(emails).toBeInstanceOf(WorkQueue);
    expect(emails.name).toBe(EMAILS.name);
    expect(started.app.get(getQueueToken(EMAILS))).toBe(emails);

    await emails.enqueue({ to: 'ada@example.com', subject: 'hello' });
    // @ts-expect-error -- not an EmailJob
    void emails.enqueue({ invoiceId: 1 }).catch(() => undefined);
    await waitFor(() => received.length === 2, 30_000, 'both items to reach the worker');
    expect(received[0]).toEqual({ job: { to: 'ada@example.com', subject: 'hello' }, queue: EMAILS.name });
  });

  it("applies the options given beside the definition (capacity with fullMode 'reject')", async () => {
    const QUEUE = defineQueue<number>('definition-bounded');
    @Injectable()
    class Producer {
      constructor(@InjectQueue(QUEUE) readonly queue: QueueOf<typeof QUEUE>) {}
    }
    started = await startHostingApp({ imports: [HostingModule.registerQueue(QUEUE, { capacity: 1, fullMode: 'reject' })], providers: [Producer] });
    const queue = started.app.get(Producer).queue;
    await queue.enqueue(1);
    await expect(queue.enqueue(2)).rejects.toBeInstanceOf(QueueFullError);
  });
});
