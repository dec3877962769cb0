/**
 * The queue pipeline on the memory backend: the shared suite (real time), then what does not
 * depend on the backend (bad input to `@OnQueueEvent` and the registry, start-up errors) and the
 * exact instants of `rateLimitedUntil` on VirtualTime.
 */
import { Injectable, Scope } from '@nestjs/common';
import {
  BackgroundService,
  HostingModule,
  HostingRegistry,
  InjectQueue,
  OnQueueEvent,
  QueueWorker,
  RateLimitedError,
  ServiceKindError,
  UnknownServiceError,
  defineQueue,
  type JobContext,
  type QueueEvent,
  type QueueEventName,
  type WorkQueue,
} from '../../src/index.js';
import {
  INVALID_ARGUMENT,
  INVALID_OPTION_AT,
  INVALID_QUEUE_ARGUMENT,
  INVALID_QUEUE_EVENT,
  INVALID_QUEUE_EVENTS,
  NOT_A_METHOD,
  QUEUE_EVENT_LISTENER_NOT_SINGLETON,
  QUEUE_EVENT_UNSUPPORTED,
  UNKNOWN_OPTION,
  UNKNOWN_QUEUE,
} from '../../src/hosting.messages.js';
import { VirtualTime } from '../../src/testing/index.js';
import { compileHostingApp, startHostingApp, untilAborted } from '../support/hosting-app.js';
import { describeQueuePipeline } from './queue-pipeline.behaviour.js';

let counter = 0;
describeQueuePipeline('memory', () => ({
  queueOptions: () => ({}),
  hostingOptions: () => ({}),
  uniqueName: (base) => `${base}-${++counter}`,
}));

const KNOWN_EVENTS = ['completed', 'failed', 'deadLettered', 'stalled', 'drained'];

describe('@OnQueueEvent: bad input fails as the class is defined', () => {
  const define = (queue: unknown, event: unknown) => () => {
    class Listener {
      @OnQueueEvent(queue as string, event as QueueEventName)
      on() {}
    }
    return Listener;
  };

  it('names class, method and value for a bad event name, with the closest one', () => {
    expect(define('emails', 'complete')).toThrow(new TypeError(INVALID_QUEUE_EVENT('@OnQueueEvent on Listener.on', 'complete', 'completed', KNOWN_EVENTS)));
    expect(define('emails', ['failed', 'deadLetter'])).toThrow(
      new TypeError(INVALID_QUEUE_EVENT('@OnQueueEvent on Listener.on', 'deadLetter', 'deadLettered', KNOWN_EVENTS)),
    );
    expect(define('emails', 'whatever')).toThrow(new TypeError(INVALID_QUEUE_EVENT('@OnQueueEvent on Listener.on', 'whatever', undefined, KNOWN_EVENTS)));
    expect(define('emails', 'whatever')).toThrow('(known events: completed, failed, deadLettered, stalled, drained)');
    expect(define('emails', 'complete')).toThrow('did you mean "completed"?');
  });

  it("refuses no event, an empty list, a non-string and '*' (the registry's only)", () => {
    for (const bad of [undefined, [], [42], 7, '*'])
      expect(define('emails', bad)).toThrow(
        bad === '*'
          ? new TypeError(INVALID_QUEUE_EVENT('@OnQueueEvent on Listener.on', '*', undefined, KNOWN_EVENTS))
          : new TypeError(INVALID_QUEUE_EVENTS('@OnQueueEvent on Listener.on', bad, KNOWN_EVENTS, false)),
      );
  });

  it('refuses a queue that is neither a name nor a definition', () => {
    for (const bad of ['', 42, null, {}]) expect(define(bad, 'completed')).toThrow(new TypeError(INVALID_QUEUE_ARGUMENT('@OnQueueEvent on Listener.on', bad)));
  });

  it('refuses a property', () => {
    expect(() => {
      class Listener {
        // @ts-expect-error a property is refused at compile time too
        @OnQueueEvent('emails', 'completed')
        handler = (_event: QueueEvent) => undefined;
      }
      return Listener;
    }).toThrow(new TypeError(NOT_A_METHOD('@OnQueueEvent', 'Listener.handler')));
  });
});

describe('@OnQueueEvent: start-up', () => {
  it('fails for a queue that is not registered, naming it and the known ones', async () => {
    @Injectable()
    class Listener {
      @OnQueueEvent('emials', 'completed')
      on() {}
    }
    const { app } = await compileHostingApp({ imports: [HostingModule.registerQueue({ name: 'emails' })], providers: [Listener] });
    await expect(app.init()).rejects.toThrow(UNKNOWN_QUEUE('Listener.on', 'emials', ['emails'], '@OnQueueEvent'));
    await app.close().catch(() => undefined);
  });

  it("fails for 'stalled' on a memory queue (it never stalls there), naming the listener; '*' is fine", async () => {
    @Injectable()
    class Listener {
      @OnQueueEvent('emails', ['completed', 'stalled'])
      on() {}
    }
    const { app } = await compileHostingApp({ imports: [HostingModule.registerQueue({ name: 'emails' })], providers: [Listener] });
    await expect(app.init()).rejects.toThrow(new TypeError(QUEUE_EVENT_UNSUPPORTED('emails', 'stalled', 'memory', 'Listener.on')));
    await app.close().catch(() => undefined);
    const { app: started } = await startHostingApp({ imports: [HostingModule.registerQueue({ name: 'emails' })] });
    const registry = started.get(HostingRegistry);
    expect(() => registry.onQueueEvent('emails', 'stalled', () => undefined)).toThrow(QUEUE_EVENT_UNSUPPORTED('emails', 'stalled', 'memory', ''));
    registry.onQueueEvent('emails', '*', () => undefined)();
    await started.close();
  });

  it('fails for a request-scoped provider, naming it', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class Listener {
      @OnQueueEvent('emails', 'completed')
      on() {}
    }
    const { app } = await compileHostingApp({ imports: [HostingModule.registerQueue({ name: 'emails' })], providers: [Listener] });
    await expect(app.init()).rejects.toThrow(QUEUE_EVENT_LISTENER_NOT_SINGLETON('Listener.on'));
    await app.close().catch(() => undefined);
  });

  it('takes a queue definition, and one method may listen to several queues', async () => {
    const A = defineQueue<string>('a');
    const events: string[] = [];
    @Injectable()
    class Listener {
      @OnQueueEvent(A, 'completed')
      @OnQueueEvent('b', ['completed'])
      on(event: QueueEvent) {
        events.push(`${event.queue}:${event.name}`);
      }
    }
    @Injectable()
    class Workers {
      @QueueWorker(A)
      a() {}
      @QueueWorker('b')
      b() {}
    }
    @Injectable()
    class Producer {
      constructor(
        @InjectQueue(A) readonly a: WorkQueue<string>,
        @InjectQueue('b') readonly b: WorkQueue<string>,
      ) {}
    }
    const { app } = await compileHostingApp({
      imports: [HostingModule.registerQueue(A), HostingModule.registerQueue({ name: 'b' })],
      providers: [Listener, Workers, Producer],
    });
    await app.init();
    const registry = app.get(HostingRegistry);
    await app.get(Producer).a.enqueue('1');
    await app.get(Producer).b.enqueue('2');
    await registry.whenIdle();
    expect(events.sort()).toEqual(['a:completed', 'b:completed']);
    await app.close();
  });
});

describe('HostingRegistry queue methods: bad input', () => {
  async function app() {
    @Injectable()
    class Worker {
      @QueueWorker('emails')
      handle() {}
    }
    @BackgroundService({ name: 'pump' })
    class Pump {
      execute(signal: AbortSignal) {
        return untilAborted(signal);
      }
    }
    const started = await startHostingApp({ imports: [HostingModule.registerQueue({ name: 'emails' })], providers: [Worker, Pump] });
    return { ...started, registry: started.app.get(HostingRegistry) };
  }

  it('rejects an unknown name with UnknownServiceError and a unit that is not a queue with ServiceKindError', async () => {
    const { app: moduleRef, registry } = await app();
    const calls: Array<[string, (name: string) => unknown]> = [
      ['deadLetters', (name) => registry.deadLetters(name)],
      ['redrive', (name) => registry.redrive(name)],
      ['discard', (name) => registry.discard(name, 'x')],
      ['cancel', (name) => registry.cancel(name, 'x')],
    ];
    for (const [method, call] of calls) {
      await expect(call('emials')).rejects.toEqual(new UnknownServiceError(method, 'emials', ['pump', 'emails']));
      await expect(call('emials')).rejects.toBeInstanceOf(UnknownServiceError);
      await expect(call('pump')).rejects.toEqual(new ServiceKindError(method, 'pump', 'background', 'queue'));
      await expect(call('pump')).rejects.toBeInstanceOf(ServiceKindError);
    }
    expect(() => registry.onQueueEvent('emials', 'completed', () => undefined)).toThrow(UnknownServiceError);
    expect(() => registry.onQueueEvent('emials', 'completed', () => undefined)).toThrow(new UnknownServiceError('onQueueEvent', 'emials', ['pump', 'emails']).message);
    expect(() => registry.onQueueEvent('pump', 'completed', () => undefined)).toThrow(new ServiceKindError('onQueueEvent', 'pump', 'background', 'queue').message);
    await moduleRef.close();
  });

  it('rejects bad paging, naming the option and the value', async () => {
    const { app: moduleRef, registry } = await app();
    const where = 'HostingRegistry.deadLetters("emails")';
    await expect(registry.deadLetters('emails', { limit: 0 })).rejects.toThrow(new TypeError(INVALID_OPTION_AT(where, 'limit', 'an integer from 1 to 1000', 0)));
    await expect(registry.deadLetters('emails', { limit: 1001 })).rejects.toThrow(new TypeError(INVALID_OPTION_AT(where, 'limit', 'an integer from 1 to 1000', 1001)));
    await expect(registry.deadLetters('emails', { limit: 2.5 })).rejects.toThrow(TypeError);
    await expect(registry.deadLetters('emails', { offset: -1 })).rejects.toThrow(new TypeError(INVALID_OPTION_AT(where, 'offset', 'an integer from 0', -1)));
    await expect(registry.deadLetters('emails', { offset: '2' as unknown as number })).rejects.toThrow(TypeError);
    await expect(registry.deadLetters('emails', { limt: 5 } as never)).rejects.toThrow(new TypeError(UNKNOWN_OPTION(where, 'limt', 'limit', ['offset', 'limit'])));
    // Limits themselves are fine, and an empty store says so.
    await expect(registry.deadLetters('emails', { offset: 0, limit: 1000 })).resolves.toEqual({ total: 0, items: [] });
    await expect(registry.deadLetters('emails')).resolves.toEqual({ total: 0, items: [] });
    await moduleRef.close();
  });

  it('rejects a bad item id, and onQueueEvent a bad event name (with the closest one) or listener', async () => {
    const { app: moduleRef, registry } = await app();
    await expect(registry.cancel('emails', '' as string)).rejects.toThrow(new TypeError(INVALID_ARGUMENT('HostingRegistry.cancel', 'id', 'a non-empty string', '')));
    await expect(registry.cancel('emails', undefined as unknown as string)).rejects.toThrow(TypeError);
    await expect(registry.redrive('emails', 42 as unknown as string)).rejects.toThrow(
      new TypeError(INVALID_ARGUMENT('HostingRegistry.redrive', 'id', 'a non-empty string, or undefined for every one', 42)),
    );
    await expect(registry.discard('emails', '')).rejects.toThrow(TypeError);
    const where = 'HostingRegistry.onQueueEvent("emails")';
    expect(() => registry.onQueueEvent('emails', 'drain' as QueueEventName, () => undefined)).toThrow(
      new TypeError(INVALID_QUEUE_EVENT(where, 'drain', 'drained', KNOWN_EVENTS)),
    );
    expect(() => registry.onQueueEvent('emails', [] as QueueEventName[], () => undefined)).toThrow(new TypeError(INVALID_QUEUE_EVENTS(where, [], KNOWN_EVENTS, true)));
    expect(() => registry.onQueueEvent('emails', 'completed', 'nope' as never)).toThrow(new TypeError(INVALID_ARGUMENT(where, 'listener', 'a function', 'nope')));
    await moduleRef.close();
  });
});

describe('status.rateLimitedUntil on virtual time (memory)', () => {
  it("is the instant a handler's RateLimitedError holds deliveries until, then goes", async () => {
    const time = new VirtualTime({ now: new Date('2026-06-01T00:00:00Z') });
    const tries: number[] = [];
    @Injectable()
    class Worker {
      @QueueWorker('jobs')
      handle(_item: string, ctx: JobContext) {
        tries.push(ctx.attempt);
        if (tries.length === 1) throw new RateLimitedError(1_000);
      }
    }
    @Injectable()
    class Producer {
      constructor(@InjectQueue('jobs') readonly queue: WorkQueue<string>) {}
    }
    const { app } = await startHostingApp({ imports: [HostingModule.registerQueue({ name: 'jobs' })], providers: [Worker, Producer], hosting: { timeProvider: time } });
    const registry = app.get(HostingRegistry);
    const t0 = time.now();
    await app.get(Producer).queue.enqueue('one');
    await time.advance(0);
    expect(registry.get('jobs')).toMatchObject({ rateLimitedUntil: new Date(t0 + 1_000), runs: 0, failed: 0, retried: 0, processed: 0 });
    await time.advance(999);
    expect(registry.get('jobs')!.rateLimitedUntil).toEqual(new Date(t0 + 1_000));
    await time.advance(1);
    expect(registry.get('jobs')!.rateLimitedUntil).toBeUndefined();
    expect(registry.get('jobs')).toMatchObject({ runs: 1, processed: 1, failed: 0 });
    expect(tries).toEqual([1, 1]);
    await app.close();
  });
});
