import { Injectable } from '@nestjs/common';
import { BackgroundService, HostingModule, HostLifetime, InjectQueue, Periodic, QueueWorker, type WorkQueue } from '../../src/index.js';
import { HOST_STOPPED, HOST_STOPPED_PAST_DEADLINE } from '../../src/hosting.messages.js';
import { startHostingApp, untilAborted, waitFor } from '../support/hosting-app.js';

/** A stop prints one line: how long it took and what it covered, or, past the deadline, what it abandoned. */

/** `HOST_STOPPED(...)` with its duration as a pattern: the one thing a test cannot know. */
const shaped = (line: string) => new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace('in 0 ms', 'in \\d+ ms')}$`);

describe('the stop summary line', () => {
  it('a clean stop: one log line with its duration, the units it stopped and the items it drained', async () => {
    @BackgroundService()
    class Pump {
      async execute(signal: AbortSignal) {
        await untilAborted(signal);
      }
    }
    @Injectable()
    class Jobs {
      @Periodic(3_600_000)
      hourly() {}
      @Periodic(3_600_000)
      daily() {}
    }
    const handled: string[] = [];
    @Injectable()
    class Mailer {
      constructor(private readonly lifetime: HostLifetime) {}
      @QueueWorker('mail')
      async send(item: string) {
        await untilAborted(this.lifetime.stopping); // items wait for the stop, and are drained by it
        handled.push(item);
      }
    }
    @Injectable()
    class Producer {
      constructor(@InjectQueue('mail') readonly queue: WorkQueue<string>) {}
    }
    const { app, logger } = await startHostingApp({
      imports: [HostingModule.registerQueue({ name: 'mail' })],
      providers: [Pump, Jobs, Mailer, Producer],
    });
    const queue = app.get(Producer).queue;
    for (const item of ['a', 'b', 'c']) await queue.enqueue(item);
    await app.get(HostLifetime).started;
    await app.close();
    expect(handled).toEqual(['a', 'b', 'c']);
    const lines = logger.find('log', 'Host stopped');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toMatch(
      shaped(HOST_STOPPED({ elapsedMs: 0, background: 1, periodic: 2, queues: 1, drained: 3, undelivered: 0 })),
    );
    expect(lines[0]!.message).toMatch(/^Host stopped gracefully in \d+ ms: 1 background service, 2 periodic tasks, 1 queue \(3 items drained, 0 left undelivered\)$/);
    expect(logger.errors()).toEqual([]);
  });

  it('a stop past the deadline: one error line naming what it abandoned, and no "gracefully" line', async () => {
    let release!: () => void;
    let running!: () => void;
    const started = new Promise<void>((resolve) => (running = resolve));
    @BackgroundService({ name: 'stubborn' })
    class Stubborn {
      execute() {
        running();
        return new Promise<void>((resolve) => (release = resolve)); // ignores its signal
      }
    }
    const { app, logger } = await startHostingApp({ hosting: { shutdownTimeoutMs: 200 }, providers: [Stubborn] });
    await started;
    await app.close();
    release();
    expect(logger.find('log', 'Host stopped gracefully')).toEqual([]);
    const lines = logger.find('error', 'Shutdown deadline');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toMatch(
      shaped(HOST_STOPPED_PAST_DEADLINE(200, ['stubborn'], { elapsedMs: 0, background: 1, periodic: 0, queues: 0, drained: 0 })),
    );
    expect(lines[0]!.message).toMatch(
      /^Shutdown deadline of 200 ms passed; still running and abandoned: "stubborn"; host stopped in \d+ ms: 1 background service, 0 periodic tasks, 0 queues \(0 items drained\)$/,
    );
  });

  it('the summary comes once, even when the app is closed twice', async () => {
    const { app, logger } = await startHostingApp({ providers: [] });
    await app.close();
    await app.close();
    await waitFor(() => logger.find('log', 'Host stopped gracefully').length > 0);
    expect(logger.find('log', 'Host stopped')).toHaveLength(1);
  });
});
