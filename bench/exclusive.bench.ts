/**
 * Figure 9 — exclusive periodic tick overhead. A `@Periodic(20, { exclusive: true })` task on a
 * throw-away redis-server beside (a) the same task without `exclusive` and (b) the raw claim: a
 * hand-written `SET key value NX PX ttl` through ioredis, sent from a timer at the same period.
 *
 * Per tick it measures the time from the timer firing (the host's TimeProvider, wrapped so that it
 * records when each of its timers fires) to the handler's first line, and from the slot
 * (`scheduledAt`) to the handler. The first ticks of a round (connection, JIT) are left out. Rounds
 * alternate exclusive / non-exclusive / raw claim (the order rotating each round), each app in a
 * fresh Nest application context, Redis flushed before each round.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import { HostingModule, Periodic, TimeProvider, type TickContext, type TimerHandle, type WallClockJumpListener } from '../src/index.js';
import { startRedisServer, type RedisServerHandle } from '../test/support/redis-server.js';
import { fmt, median, percentile, sized, spread, table, type BenchResult } from './bench-result.js';

const PERIOD_MS = 20;
const TICKS = sized(160, 12);
const WARMUP = sized(10, 2);
const ROUNDS = sized(7, 2);

/** The system clock, recording when each of its timers fires (the start of a tick's dispatch). */
class FireRecordingTime extends TimeProvider {
  lastFire = 0;
  private readonly inner = TimeProvider.system;
  now(): number {
    return this.inner.now();
  }
  monotonic(): number {
    return this.inner.monotonic();
  }
  override wallClockOffset(): number {
    return this.inner.wallClockOffset();
  }
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return this.inner.setTimeout(() => {
      this.lastFire = performance.now();
      callback();
    }, delayMs);
  }
  onWallClockJump(listener: WallClockJumpListener): () => void {
    return this.inner.onWallClockJump(listener);
  }
}

interface Round {
  /** Timer fire → handler start, ms, per tick. */
  dispatch: number[];
  /** Slot (`scheduledAt`) → handler start, ms, per tick. */
  fromSlot: number[];
  /** CPU µs per tick over the measured ticks (this process only; Redis runs in its own). */
  cpuPerTick: number;
}

/** Ticks of one app with one task (`exclusive` or not), until TICKS were seen. */
async function appRound(redis: RedisServerHandle, exclusive: boolean): Promise<Round> {
  const time = new FireRecordingTime();
  const dispatch: number[] = [];
  const fromSlot: number[] = [];
  let cpuAt: NodeJS.CpuUsage | undefined;
  let cpuUsed: NodeJS.CpuUsage | undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let seen = 0;
  @Injectable()
  class Job {
    @Periodic(PERIOD_MS, { name: 'bench-tick', exclusive })
    tick(ctx: TickContext) {
      const at = performance.now();
      seen++;
      if (seen === WARMUP) cpuAt = process.cpuUsage();
      if (seen <= WARMUP || seen > WARMUP + TICKS) return;
      dispatch.push(at - time.lastFire);
      fromSlot.push(performance.timeOrigin + at - ctx.scheduledAt.getTime());
      if (dispatch.length === TICKS) {
        cpuUsed = process.cpuUsage(cpuAt);
        done();
      }
    }
  }
  @Module({ imports: [HostingModule.forRoot({ redis: redis.url, timeProvider: time })], providers: [Job] })
  class AppModule {}
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await finished;
  await app.close();
  const used = cpuUsed!;
  return { dispatch, fromSlot, cpuPerTick: (used.user + used.system) / TICKS };
}

/** The anchor: a hand-written `SET NX PX` claim per slot, sent from a timer at the same period. */
async function rawClaimRound(client: Redis): Promise<Round> {
  const dispatch: number[] = [];
  const fromSlot: number[] = [];
  let cpuAt: NodeJS.CpuUsage | undefined;
  let cpuUsed: NodeJS.CpuUsage | undefined;
  let seen = 0;
  await new Promise<void>((resolve, reject) => {
    // On the same wall-clock grid as the exclusive task: slots at whole multiples of the period.
    // Like the library's wall-clock slots: never run a slot early (a Node timer may fire before `Date.now()` reaches it).
    let last = 0;
    const arm = () => {
      const slot = Math.max((Math.floor(Date.now() / PERIOD_MS) + 1) * PERIOD_MS, last + PERIOD_MS);
      last = slot;
      const wait = () => setTimeout(() => (Date.now() < slot ? wait() : void fire(slot)), slot - Date.now());
      wait();
    };
    const fire = async (slot: number) => {
      const firedAt = performance.now();
      const won = await client.set(`raw:slot:${slot}`, 'me', 'PX', 60_000, 'NX');
      const at = performance.now();
      if (won !== 'OK') return reject(new Error(`raw claim of slot ${slot} lost`));
      seen++;
      if (seen === WARMUP) cpuAt = process.cpuUsage();
      if (seen > WARMUP) {
        dispatch.push(at - firedAt);
        fromSlot.push(performance.timeOrigin + at - slot);
      }
      if (dispatch.length === TICKS) {
        cpuUsed = process.cpuUsage(cpuAt);
        return resolve();
      }
      arm();
    };
    arm();
  });
  const used = cpuUsed!;
  return { dispatch, fromSlot, cpuPerTick: (used.user + used.system) / TICKS };
}

export async function run(): Promise<BenchResult> {
  const redis = await startRedisServer();
  const client = new Redis(redis.port, redis.host, { lazyConnect: true });
  await client.connect();
  const rounds = { exclusive: [] as Round[], plain: [] as Round[], raw: [] as Round[] };
  try {
    const sides: Array<() => Promise<void>> = [
      async () => void rounds.exclusive.push(await appRound(redis, true)),
      async () => void rounds.plain.push(await appRound(redis, false)),
      async () => void rounds.raw.push(await rawClaimRound(client)),
    ];
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round, so that a warming or busier machine favours no side.
      for (let i = 0; i < sides.length; i++) {
        await client.flushall();
        await sides[(r + i) % sides.length]();
      }
    }
  } finally {
    client.disconnect();
    await redis.stop();
  }

  const p = (side: Round[], pick: (round: Round) => number[], q: number) => side.map((round) => percentile(pick(round), q));
  const dispatch50 = { exclusive: p(rounds.exclusive, (x) => x.dispatch, 50), plain: p(rounds.plain, (x) => x.dispatch, 50), raw: p(rounds.raw, (x) => x.dispatch, 50) };
  const dispatch99 = { exclusive: p(rounds.exclusive, (x) => x.dispatch, 99), plain: p(rounds.plain, (x) => x.dispatch, 99), raw: p(rounds.raw, (x) => x.dispatch, 99) };
  const slot50 = { exclusive: p(rounds.exclusive, (x) => x.fromSlot, 50), plain: p(rounds.plain, (x) => x.fromSlot, 50), raw: p(rounds.raw, (x) => x.fromSlot, 50) };
  const slot99 = { exclusive: p(rounds.exclusive, (x) => x.fromSlot, 99), plain: p(rounds.plain, (x) => x.fromSlot, 99), raw: p(rounds.raw, (x) => x.fromSlot, 99) };
  const cpu = { exclusive: rounds.exclusive.map((x) => x.cpuPerTick), plain: rounds.plain.map((x) => x.cpuPerTick), raw: rounds.raw.map((x) => x.cpuPerTick) };
  const perRound = (a: number[], b: number[]) => a.map((v, i) => v - b[i]);
  // The overhead of `exclusive`, per round: exclusive minus non-exclusive, p50 of the dispatch time.
  const overhead50 = perRound(dispatch50.exclusive, dispatch50.plain);
  const overhead99 = perRound(dispatch99.exclusive, dispatch99.plain);
  const cpuOverhead = perRound(cpu.exclusive, cpu.plain);
  // The margin over the anchor, per round: overhead minus the raw claim's p50 round trip.
  const margin = perRound(overhead50, dispatch50.raw);
  const marginMedian = median(margin);
  const met = marginMedian <= 0.25;
  const ms = (values: number[]) => spread(values, 3);

  return {
    title: '9. Exclusive periodic tick overhead',
    method:
      `A \`@Periodic(${PERIOD_MS}, { exclusive: true })\` task (\`HostingModule.forRoot({ redis })\`, a throw-away redis-server on 127.0.0.1) beside the same task without ` +
      '`exclusive` and beside the raw claim: a hand-written `SET key value NX PX 60000` through ioredis, sent from a `setTimeout` on the same wall-clock grid. ' +
      `${ROUNDS} rounds; each round runs the three sides one after the other (the order rotating each round, Redis flushed before each), each for ${TICKS} ticks after ${WARMUP} left out ` +
      '(connection, JIT); each app is a fresh Nest application context. "Dispatch" is the time from the host\'s timer firing (its `TimeProvider`, wrapped to record each fire) ' +
      'to the handler\'s first line (raw claim: from its timer firing to the `SET` reply); "from slot" is the time from `scheduledAt` (raw: the slot) to the same point, timer lateness included, ' +
      'read as `performance.timeOrigin + performance.now()`, so its zero is only as exact as that clock and the host\'s wall clock agree. ' +
      'CPU is this process\'s `process.cpuUsage` per tick over the measured ticks, timer wake-ups included (Redis runs in its own process); an exclusive tick\'s CPU also covers the release of its lease after the run. Each cell is the median of the per-round values (min–max) ' +
      'of that round\'s p50 or p99; the overhead is the per-round difference exclusive − non-exclusive, and the target is judged on the median of the per-round margins ' +
      '(overhead p50 − raw claim p50).',
    markdown: table(
      ['side', 'dispatch p50 ms', 'dispatch p99 ms', 'from slot p50 ms', 'from slot p99 ms', 'CPU µs per tick'],
      [
        ['`@Periodic(…, { exclusive: true })`', ms(dispatch50.exclusive), ms(dispatch99.exclusive), ms(slot50.exclusive), ms(slot99.exclusive), spread(cpu.exclusive, 1)],
        ['same task, not exclusive', ms(dispatch50.plain), ms(dispatch99.plain), ms(slot50.plain), ms(slot99.plain), spread(cpu.plain, 1)],
        ['raw claim: ioredis `SET NX PX` (anchor)', ms(dispatch50.raw), ms(dispatch99.raw), ms(slot50.raw), ms(slot99.raw), spread(cpu.raw, 1)],
        ['overhead of `exclusive` (per-round difference)', ms(overhead50), ms(overhead99), '', '', spread(cpuOverhead, 1)],
        ['overhead − raw claim p50 (per-round margin)', ms(margin), '', '', '', ''],
      ],
    ),
    targets: [
      {
        target: 'exclusive tick overhead p50 within one raw claim round trip (p50) + 0.25 ms (median of per-round margins)',
        measured: `${fmt(marginMedian, 3)} ms over the raw claim (overhead ${fmt(median(overhead50), 3)} ms, raw claim ${fmt(median(dispatch50.raw), 3)} ms)`,
        met,
        gap: met ? undefined : `per-round margins: ${margin.map((v) => fmt(v, 3)).join(', ')} ms`,
      },
    ],
  };
}
