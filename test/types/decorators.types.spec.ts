/**
 * Type tests of the decorators: what must not compile is marked `// @ts-expect-error`, and ts-jest
 * type-checks this file in both runs, so a decorator whose typing loosens (the line compiles, the
 * directive is then unused: TS2578) or tightens (a valid line no longer compiles) fails the run.
 * The runtime parts are real: each class is defined, so the decorators run.
 */
import { applyDecorators, Injectable } from '@nestjs/common';
import { expectTypeOf } from 'expect-type';
import {
  BackgroundService,
  CronExpression,
  Periodic,
  QueueWorker,
  defineQueue,
  type HostedBackgroundService,
  type JobContext,
  type TickContext,
} from '../../src/index.js';
import { MISSING_EXECUTE } from '../../src/hosting.messages.js';

interface EmailJob {
  to: string;
  subject: string;
}
interface InvoiceJob {
  invoiceId: number;
}
const EMAILS = defineQueue<EmailJob>('types-emails');

/** Defines the class `make` returns (running its decorators), for tests that only need it to exist. */
const define = (make: () => unknown): void => {
  expect(typeof make()).toBe('function');
};

describe('@BackgroundService() types', () => {
  it('accepts a class with execute(signal), execute() or an async execute', () => {
    define(() => {
      @BackgroundService()
      class WithSignal implements HostedBackgroundService {
        async execute(signal: AbortSignal) {
          await Promise.resolve(signal.aborted);
        }
      }
      return WithSignal;
    });
    define(() => {
      @BackgroundService({ name: 'no-parameter' })
      class NoParameter {
        execute(): void {}
      }
      return NoParameter;
    });
  });

  it('refuses a class without execute at compile time, and still at definition time', () => {
    expect(() => {
      // @ts-expect-error -- no execute(signal)
      @BackgroundService()
      class NoExecute {
        run() {}
      }
      return NoExecute;
    }).toThrow(MISSING_EXECUTE('NoExecute', undefined));
  });

  it('refuses an execute whose parameter is not an AbortSignal, or that needs more parameters', () => {
    define(() => {
      // @ts-expect-error -- execute(signal: string)
      @BackgroundService()
      class WrongSignal {
        execute(signal: string) {
          return signal;
        }
      }
      return WrongSignal;
    });
    define(() => {
      // @ts-expect-error -- execute(signal, extra)
      @BackgroundService()
      class ExtraParameter {
        execute(signal: AbortSignal, extra: number) {
          return [signal, extra];
        }
      }
      return ExtraParameter;
    });
  });
});

describe('@Periodic types', () => {
  it('accepts (ctx: TickContext), no parameter, an optional context, a wider context type and any return', () => {
    define(() => {
      @Injectable()
      class Jobs {
        @Periodic(60_000)
        withContext(ctx: TickContext) {
          return ctx.tick;
        }

        @Periodic({ cron: CronExpression.EVERY_DAY_AT_MIDNIGHT, timeZone: 'Europe/Paris' }, { name: 'types-daily' })
        async none(): Promise<number> {
          return 1;
        }

        @Periodic({ every: 1_000 })
        optional(ctx?: TickContext) {
          return ctx?.name;
        }

        @Periodic(1_000)
        wider(ctx: { signal: AbortSignal }) {
          return ctx.signal.aborted;
        }
      }
      return Jobs;
    });
  });

  it('refuses a method whose first parameter is not a TickContext, or with extra required parameters', () => {
    define(() => {
      @Injectable()
      class Jobs {
        // @ts-expect-error -- a JobContext is not a TickContext
        @Periodic(1_000)
        wrongContext(ctx: JobContext) {
          return ctx.attempt;
        }

        // @ts-expect-error -- a number is not a TickContext
        @Periodic(1_000)
        wrongType(count: number) {
          return count;
        }

        // @ts-expect-error -- a second required parameter is never given
        @Periodic(1_000)
        extra(ctx: TickContext, limit: number) {
          return [ctx, limit];
        }
      }
      return Jobs;
    });
  });

  it('refuses a property (and still throws at definition time)', () => {
    expect(() => {
      @Injectable()
      class Jobs {
        // @ts-expect-error -- a property, not a method
        @Periodic(1_000)
        notAMethod = () => undefined;
      }
      return Jobs;
    }).toThrow(TypeError);
  });

  it("composes with Nest's applyDecorators as a MethodDecorator (which gives up the signature check)", () => {
    // @ts-expect-error -- applyDecorators takes unchecked decorators only
    applyDecorators(Periodic(1_000));
    define(() => {
      const Nightly = () => applyDecorators(Periodic({ cron: CronExpression.EVERY_DAY_AT_1AM }) as MethodDecorator);
      @Injectable()
      class Jobs {
        @Nightly()
        run(ctx: TickContext) {
          return ctx.name;
        }
      }
      return Jobs;
    });
  });
});

describe('@QueueWorker types', () => {
  it('with a definition: accepts (item: T, ctx: JobContext), fewer parameters, or a wider item type', () => {
    define(() => {
      @Injectable()
      class Worker {
        @QueueWorker(EMAILS, { concurrency: 2 })
        async send(job: EmailJob, ctx: JobContext) {
          expectTypeOf(job).toEqualTypeOf<EmailJob>();
          return [job.to, ctx.attempt];
        }
      }
      return Worker;
    });
    define(() => {
      @Injectable()
      class Worker {
        @QueueWorker(EMAILS)
        send(job: { to: string }) {
          return job.to;
        }
      }
      return Worker;
    });
  });

  it("with a definition: refuses an item type the queue does not carry, a wrong context, or extra parameters", () => {
    define(() => {
      @Injectable()
      class Worker {
        // @ts-expect-error -- the queue carries EmailJob, not InvoiceJob
        @QueueWorker(EMAILS)
        send(job: InvoiceJob) {
          return job.invoiceId;
        }
      }
      return Worker;
    });
    define(() => {
      @Injectable()
      class Worker {
        // @ts-expect-error -- the second parameter is a JobContext
        @QueueWorker(EMAILS)
        send(job: EmailJob, ctx: TickContext) {
          return [job, ctx];
        }
      }
      return Worker;
    });
    define(() => {
      @Injectable()
      class Worker {
        // @ts-expect-error -- a third required parameter is never given
        @QueueWorker(EMAILS)
        send(job: EmailJob, ctx: JobContext, extra: string) {
          return [job, ctx, extra];
        }
      }
      return Worker;
    });
  });

  it('with a bare name: any item type, the context still checked; an explicit type argument checks the item', () => {
    define(() => {
      @Injectable()
      class Worker {
        @QueueWorker('types-bare', { attempts: 2 })
        send(job: InvoiceJob, ctx: JobContext) {
          return [job.invoiceId, ctx.id];
        }
      }
      return Worker;
    });
    define(() => {
      @Injectable()
      class Worker {
        // @ts-expect-error -- the second parameter is a JobContext
        @QueueWorker('types-bare-context')
        send(job: InvoiceJob, ctx: string) {
          return [job, ctx];
        }
      }
      return Worker;
    });
    define(() => {
      @Injectable()
      class Worker {
        // @ts-expect-error -- declared as a queue of EmailJob
        @QueueWorker<EmailJob>('types-bare-typed')
        send(job: InvoiceJob) {
          return job;
        }
      }
      return Worker;
    });
  });

  it('refuses a queue argument that is neither a name nor a definition', () => {
    expect(() => {
      @Injectable()
      class Worker {
        // @ts-expect-error -- a number is not a queue
        @QueueWorker(42)
        send() {}
      }
      return Worker;
    }).toThrow(TypeError);
  });
});
