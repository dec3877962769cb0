/**
 * Missed-run alerts: a periodic task that has not succeeded within its budget (`staleAfterMs`, or
 * `staleAfterPeriods` slots of its schedule plus its `timeoutMs`) is `late` in its status, at the
 * exact instant on virtual time; one warning says so when it becomes late, one line when it
 * succeeds again.
 */
import { Injectable } from '@nestjs/common';
import { HostingModule, HostingRegistry, Periodic, type HostingOptions, type PeriodicSchedule, type TickContext } from '../../src/index.js';
import { VirtualTime } from '../../src/testing/index.js';
import { INVALID_OPTION_AT } from '../../src/hosting.messages.js';
import { compileHostingApp, startOnTime } from '../support/hosting-app.js';
import type { CaptureLogger } from '../support/capture-logger.js';

const T0 = Date.parse('2026-06-01T00:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms);

/** A task `name` on `schedule` whose runs fail while `job.failing` is true (and hang while `job.hanging`). */
function flakyJob(schedule: PeriodicSchedule, name = 'job') {
  const job = { failing: false, hanging: false, runs: 0, time: undefined as VirtualTime | undefined };
  @Injectable()
  class Job {
    @Periodic(typeof schedule === 'object' ? { ...schedule, name } : { every: schedule, name })
    async tick(ctx: TickContext) {
      job.runs++;
      if (job.hanging) await job.time!.delay(24 * 3_600_000, ctx.signal);
      if (job.failing) throw new Error('the upstream is down');
    }
  }
  return { job, Job };
}

async function start(providers: Array<new (...args: never[]) => unknown>, hosting: HostingOptions = {}, now = T0) {
  const time = new VirtualTime({ now });
  const started = await startOnTime(time, { providers, hosting });
  return { ...started, time };
}

const lateLines = (logger: CaptureLogger) => logger.find('warn', 'is late');
const recoveredLines = (logger: CaptureLogger) => logger.find('log', 'is no longer late');

describe('missed-run alerts: ServiceStatus.late', () => {
  it('interval, default budget: two periods after the last success; exact on virtual time', async () => {
    const { job, Job } = flakyJob(60_000);
    const { moduleRef, registry, time } = await start([Job]);
    try {
      await time.advance(60_000); // the first run succeeds at 60 s
      expect(registry.get('job')).toMatchObject({ late: false, lastSucceededAt: at(60_000), dueBy: at(180_000) });
      job.failing = true;
      await time.advance(180_000 - 60_000 - 1);
      expect(registry.get('job')).toMatchObject({ late: false, runs: 2, failures: 1, dueBy: at(180_000) });
      await time.advance(2);
      expect(registry.get('job')).toMatchObject({ late: true, runs: 3, failures: 2, lastSucceededAt: at(60_000), dueBy: at(180_000) });
    } finally {
      await moduleRef.close();
    }
  });

  it('a task that never succeeded counts from its start: every tick fails', async () => {
    const { job, Job } = flakyJob(10_000);
    job.failing = true;
    const { moduleRef, registry, time, logger } = await start([Job]);
    try {
      await time.advance(20_000 - 1);
      expect(registry.get('job')).toMatchObject({ late: false, dueBy: at(20_000), failures: 1 });
      expect(registry.get('job')?.lastSucceededAt).toBeUndefined();
      await time.advance(2);
      expect(registry.get('job')).toMatchObject({ late: true, dueBy: at(20_000), failures: 2 });
      expect(lateLines(logger).map((e) => e.message)).toEqual([
        'Periodic task "job" is late: no successful run in the 20001 ms since it started (at 2026-06-01T00:00:00.000Z); ' +
          'it should have succeeded by 2026-06-01T00:00:20.000Z (budget: 2 slots of every 10000 ms (staleAfterPeriods))',
      ]);
    } finally {
      await moduleRef.close();
    }
  });

  it("cron, default budget: the second cron instant after the last success, plus timeoutMs", async () => {
    const { job, Job } = flakyJob({ cron: '0 */5 * * * *', timeZone: 'UTC', timeoutMs: 10_000 });
    job.failing = true;
    const { moduleRef, registry, time, logger } = await start([Job], {}, T0 + 90_000); // starts at 00:01:30
    try {
      const due = 10 * 60_000 + 10_000; // 00:05 and 00:10 are the next two instants; plus the timeout
      await time.advanceTo(T0 + due - 1);
      expect(registry.get('job')).toMatchObject({ late: false, dueBy: at(due), runs: 2 });
      await time.advanceTo(T0 + due + 1);
      expect(registry.get('job')).toMatchObject({ late: true, dueBy: at(due) });
      expect(lateLines(logger)[0]?.message).toContain('(budget: 2 slots of cron 0 */5 * * * * (UTC) plus timeoutMs 10000 ms (staleAfterPeriods))');
      // A success at 00:15 (the run finishes at once on virtual time): the next deadline is two instants later.
      job.failing = false;
      await time.advanceTo(T0 + 15 * 60_000);
      expect(registry.get('job')).toMatchObject({ late: false, lastSucceededAt: at(15 * 60_000), dueBy: at(25 * 60_000 + 10_000) });
    } finally {
      await moduleRef.close();
    }
  });

  it('staleAfterMs sets the budget; false turns the check off for that task', async () => {
    const strict = flakyJob({ every: 1_000, staleAfterMs: 5_000 }, 'strict');
    const off = flakyJob({ every: 1_000, staleAfterMs: false }, 'off');
    strict.job.failing = true;
    const { moduleRef, registry, time, logger } = await start([strict.Job, off.Job]);
    try {
      await time.advance(5_000);
      expect(registry.get('strict')).toMatchObject({ late: false, dueBy: at(5_000) });
      await time.advance(1);
      expect(registry.get('strict')).toMatchObject({ late: true });
      expect(lateLines(logger)[0]?.message).toContain('(budget: staleAfterMs 5000 ms)');
      off.job.failing = true; // after its runs up to 5 s succeeded
      await time.advance(60_000);
      const status = registry.get('off')!;
      expect(status.late).toBeUndefined();
      expect(status.dueBy).toBeUndefined();
      expect(status.lastSucceededAt).toEqual(at(5_000)); // still shown
      expect(lateLines(logger).map((e) => e.message.slice(0, 30))).toEqual(['Periodic task "strict" is late']);
    } finally {
      await moduleRef.close();
    }
  });

  it('a hanging run makes the task late, while it still runs', async () => {
    const { job, Job } = flakyJob(1_000);
    const { moduleRef, registry, time, logger } = await start([Job]);
    job.time = time;
    try {
      await time.advance(1_000); // succeeds
      job.hanging = true;
      await time.advance(2_000); // the 2 s run started and hangs
      expect(registry.get('job')).toMatchObject({ state: 'running', late: false, dueBy: at(3_000) });
      await time.advance(1);
      expect(registry.get('job')).toMatchObject({ state: 'running', late: true, lastSucceededAt: at(1_000) });
      await time.advance(30_000);
      expect(lateLines(logger)).toHaveLength(1);
    } finally {
      await moduleRef.close();
    }
  });

  it('a paused task is not exempt: paused and forgotten, it becomes late', async () => {
    const { Job } = flakyJob(1_000);
    const { moduleRef, registry, time, logger } = await start([Job]);
    try {
      await time.advance(1_000);
      registry.pause('job');
      await time.advance(2_000);
      expect(registry.get('job')).toMatchObject({ paused: true, late: false });
      await time.advance(1);
      expect(registry.get('job')).toMatchObject({ paused: true, late: true, dueBy: at(3_000) });
      expect(lateLines(logger)).toHaveLength(1);
    } finally {
      await moduleRef.close();
    }
  });

  it('logs one warning when the task becomes late and one line when it succeeds again, not repeated', async () => {
    const { job, Job } = flakyJob(1_000);
    const { moduleRef, registry, time, logger } = await start([Job]);
    try {
      await time.advance(1_000);
      job.failing = true;
      await time.advance(3_000); // due by 3 s: late since 3.001 s
      expect(lateLines(logger).map((e) => e.message)).toEqual([
        'Periodic task "job" is late: no successful run for 2001 ms (the last one finished at 2026-06-01T00:00:01.000Z); ' +
          'it should have succeeded by 2026-06-01T00:00:03.000Z (budget: 2 slots of every 1000 ms (staleAfterPeriods))',
      ]);
      await time.advance(60_000); // still late: said once
      expect(lateLines(logger)).toHaveLength(1);
      expect(registry.get('job')?.late).toBe(true);
      job.failing = false;
      await time.advance(5_000); // the run at 65 s succeeds
      expect(registry.get('job')?.late).toBe(false);
      expect(recoveredLines(logger).map((e) => e.message)).toEqual(['Periodic task "job" succeeded again (at 2026-06-01T00:01:05.000Z) and is no longer late']);
      await time.advance(60_000);
      expect(recoveredLines(logger)).toHaveLength(1);
      expect(lateLines(logger)).toHaveLength(1);
      // Late again: said again.
      job.failing = true;
      await time.advance(5_000);
      expect(lateLines(logger)).toHaveLength(2);
      // The logger is the host's ('Hosting'), and nothing went to error but the task's failures.
      expect(logger.errors().every((e) => e.message === 'Periodic task "job" failed')).toBe(true);
    } finally {
      await moduleRef.close();
    }
  });

  it('a disabled task is never late; a stopped host has no late task and no timer left', async () => {
    const { job: offJob, Job: Off } = flakyJob({ every: 1_000, enabled: false }, 'off');
    const { job, Job } = flakyJob(1_000);
    offJob.failing = true;
    job.failing = true;
    const { moduleRef, registry, time, logger } = await start([Off, Job]);
    await time.advance(10_000);
    expect(registry.get('off')).toMatchObject({ state: 'disabled' });
    expect(registry.get('off')?.late).toBeUndefined();
    expect(registry.get('job')?.late).toBe(true);
    await moduleRef.close();
    expect(registry.get('job')).toMatchObject({ state: 'stopped', late: false });
    expect(time.pendingTimers).toBe(0); // the watcher stopped with the host
    await time.advance(60_000);
    expect(lateLines(logger)).toHaveLength(1);
  });

  it('tasks of a disabled kind (forRoot enabled.periodic false) are never late', async () => {
    const { job, Job } = flakyJob(1_000);
    job.failing = true;
    const { moduleRef, registry, time, logger } = await start([Job], { enabled: { periodic: false } });
    try {
      await time.advance(10_000);
      expect(registry.get('job')).toMatchObject({ state: 'disabled' });
      expect(registry.get('job')?.late).toBeUndefined();
      expect(lateLines(logger)).toHaveLength(0);
    } finally {
      await moduleRef.close();
    }
  });

  it('a task added at run time counts from when it was added, with its own staleAfterMs', async () => {
    const { moduleRef, registry, time, logger } = await start([]);
    try {
      await time.advance(10_000);
      registry.addPeriodic(
        'added',
        { every: 1_000 },
        () => {
          throw new Error('no');
        },
        { staleAfterMs: 2_500 },
      );
      await time.advance(2_500);
      expect(registry.get('added')).toMatchObject({ late: false, dueBy: at(12_500) });
      await time.advance(1);
      expect(registry.get('added')?.late).toBe(true);
      expect(lateLines(logger)).toHaveLength(1); // the watcher woke for it
    } finally {
      await moduleRef.close();
    }
  });

  it('among hundreds of tasks that keep succeeding, warns of the one that fails at its deadline, also after tasks are removed and added', async () => {
    const { moduleRef, registry, time, logger } = await start([]);
    const failing = new Set<string>();
    const add = (name: string) =>
      registry.addPeriodic(name, { every: 1_000 }, () => {
        if (failing.has(name)) throw new Error('the upstream is down');
      });
    try {
      for (let i = 0; i < 300; i++) add(`task-${i}`);
      await time.advance(10_000); // every task succeeded ten times
      expect(lateLines(logger)).toHaveLength(0);
      failing.add('task-123'); // its last success: at 10 s (added at 0 s: slots on whole seconds)
      await time.advance(2_000);
      expect(lateLines(logger)).toHaveLength(0);
      expect(registry.get('task-123')).toMatchObject({ late: false, dueBy: at(12_000) });
      await time.advance(1);
      expect(lateLines(logger).map((e) => e.message)).toEqual([expect.stringContaining('Periodic task "task-123" is late')]);
      expect(registry.list().filter((s) => s.late).map((s) => s.name)).toEqual(['task-123']);

      // Tasks removed and added: each task keeps its own watch.
      await Promise.all([registry.remove('task-5'), registry.remove('task-6')]);
      add('task-300'); // at 12.001 s: its slots at 13.001 s, 14.001 s, …
      await time.advance(2_499); // 14.5 s
      failing.add('task-150'); // last success at 14 s: due by 16 s
      failing.add('task-300'); // last success at 14.001 s: due by 16.001 s
      await time.advance(1_500); // 16 s: not late yet (late once past the deadline)
      expect(lateLines(logger)).toHaveLength(1);
      await time.advance(2);
      expect(lateLines(logger).map((e) => e.message.split(':')[0]).sort()).toEqual([
        'Periodic task "task-123" is late',
        'Periodic task "task-150" is late',
        'Periodic task "task-300" is late',
      ]);
      failing.delete('task-123');
      await time.advance(1_000);
      expect(recoveredLines(logger).map((e) => e.message)).toEqual([expect.stringContaining('Periodic task "task-123" succeeded again')]);
      expect(registry.list().filter((s) => s.late).map((s) => s.name).sort()).toEqual(['task-150', 'task-300']);
    } finally {
      await moduleRef.close();
    }
  });

  it('initialDelayMs: before its first success, a task counts from its first slot', async () => {
    const { job, Job } = flakyJob({ every: 1_000, initialDelayMs: 10_000 });
    job.failing = true;
    const { moduleRef, registry, time } = await start([Job]);
    try {
      await time.advance(12_000);
      expect(registry.get('job')).toMatchObject({ late: false, dueBy: at(12_000) });
      await time.advance(1);
      expect(registry.get('job')?.late).toBe(true);
    } finally {
      await moduleRef.close();
    }
  });
});

describe('missed-run alerts: HostingOptions.staleAfterPeriods', () => {
  it('sets the default budget in slots; false turns it off for tasks without their own staleAfterMs', async () => {
    const plain = flakyJob(1_000, 'plain');
    const own = flakyJob({ every: 1_000, staleAfterMs: 1_500 }, 'own');
    plain.job.failing = true;
    own.job.failing = true;
    const three = await start([plain.Job], { staleAfterPeriods: 3 });
    try {
      await three.time.advance(3_000);
      expect(three.registry.get('plain')).toMatchObject({ late: false, dueBy: at(3_000) });
      await three.time.advance(1);
      expect(three.registry.get('plain')?.late).toBe(true);
    } finally {
      await three.moduleRef.close();
    }
    const off = await start([plain.Job, own.Job], { staleAfterPeriods: false });
    try {
      await off.time.advance(60_000);
      expect(off.registry.get('plain')?.late).toBeUndefined();
      expect(off.registry.get('own')?.late).toBe(true);
    } finally {
      await off.moduleRef.close();
    }
  });

  it('from forRootAsync, strings bind as the other options do', async () => {
    const { job, Job } = flakyJob(1_000);
    job.failing = true;
    for (const [value, late] of [
      ['4', [false, true]],
      [' false ', [false, false]],
    ] as const) {
      const time = new VirtualTime({ now: T0 });
      const { app } = await compileHostingApp({
        hostingModule: HostingModule.forRootAsync({ useFactory: () => ({ staleAfterPeriods: value }) as never }),
        providers: [Job],
        time,
      });
      await app.init();
      try {
        await time.advance(4_000);
        expect(app.get(HostingRegistry).get('job')?.late ?? false).toBe(late[0]);
        await time.advance(1);
        expect(app.get(HostingRegistry).get('job')?.late ?? false).toBe(late[1]);
      } finally {
        await app.close();
      }
    }
  });

  it.each([0, -1, 1.5, 1_001, true, 'two'])('refuses staleAfterPeriods %p naming HostingModule.forRoot, the option and the value', (value) => {
    expect(() => HostingModule.forRoot({ staleAfterPeriods: value as never })).toThrow(
      new TypeError(INVALID_OPTION_AT('HostingModule.forRoot', 'staleAfterPeriods', 'a positive integer up to 1000, or false', value)),
    );
  });

  it('forRootAsync refuses a bad value at start-up, naming it', async () => {
    const failure = await compileHostingApp({
      hostingModule: HostingModule.forRootAsync({ useFactory: () => ({ staleAfterPeriods: 'often' }) as never }),
    }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(failure?.message).toBe(INVALID_OPTION_AT('HostingModule.forRootAsync', 'staleAfterPeriods', 'a positive integer up to 1000, or false', 'often'));
  });
});

describe('missed-run alerts: staleAfterMs validation', () => {
  it.each([0, -5, true, '5000', Number.NaN])('@Periodic refuses staleAfterMs %p naming the class, method and value', (value) => {
    const define = () => {
      class Reports {
        @Periodic(1_000, { staleAfterMs: value as never })
        run() {}
      }
      return Reports;
    };
    expect(define).toThrow(
      new TypeError(
        INVALID_OPTION_AT('@Periodic on Reports.run', 'staleAfterMs', 'a positive number of milliseconds up to 3153600000000 (100 years), or false', value),
      ),
    );
  });

  it('HostingRegistry.addPeriodic refuses it the same way', async () => {
    const { moduleRef, registry } = await start([]);
    try {
      expect(() => registry.addPeriodic('x', 1_000, () => undefined, { staleAfterMs: -1 })).toThrow(
        'HostingRegistry.addPeriodic("x"): option "staleAfterMs" must be a positive number of milliseconds up to 3153600000000 (100 years), or false, got -1',
      );
    } finally {
      await moduleRef.close();
    }
  });
});
