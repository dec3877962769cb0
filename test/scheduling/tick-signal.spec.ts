import { Injectable } from '@nestjs/common';
import { HostingRegistry, Periodic, type TickContext } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { startOnTime, waitFor } from '../support/hosting-app.js';

/**
 * The tick's signal is made when a handler first reads it (most never do): one read after the
 * abort must still see it aborted, with the reason it was aborted for.
 */
describe('ctx.signal read only after the tick was aborted', () => {
  it('is aborted with the tick timeout when read after timeoutMs passed', async () => {
    const time = new VirtualTime();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: Array<{ aborted: boolean; reason: string }> = [];
    @Injectable()
    class Job {
      @Periodic(1_000, { name: 'slow', timeoutMs: 50 })
      async tick(ctx: TickContext) {
        await gate; // does not look at its signal while it waits
        seen.push({ aborted: ctx.signal.aborted, reason: String((ctx.signal.reason as Error)?.message) });
      }
    }
    const { moduleRef, registry } = await startOnTime(time, { providers: [Job] });
    try {
      const running = registry.trigger('slow');
      await time.advance(100); // the watchdog fires: the run is aborted before it read its signal
      release();
      await running;
      expect(seen).toEqual([{ aborted: true, reason: 'tick of "slow" timed out after 50 ms (timeoutMs)' }]);
    } finally {
      await moduleRef.close();
    }
  });

  it('is aborted when read after the host began to stop', async () => {
    const time = new VirtualTime();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const seen: boolean[] = [];
    let started = false;
    @Injectable()
    class Job {
      @Periodic(1_000, { name: 'waiting' })
      async tick(ctx: TickContext) {
        started = true;
        await gate;
        seen.push(ctx.signal.aborted);
      }
    }
    const { moduleRef } = await startOnTime(time, { providers: [Job] });
    const registry = moduleRef.get(HostingRegistry);
    void registry.trigger('waiting');
    await waitFor(() => started);
    const closing = moduleRef.close(); // aborts the running tick, then waits for it
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await closing;
    expect(seen).toEqual([true]);
  });
});
