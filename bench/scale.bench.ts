/**
 * Figure 16 — scale: how the cost of an app grows with the number of periodic tasks (N = 100, 1,000,
 * 4,000, 8,000) on nest-hosting beside @nestjs/schedule and an empty Nest app, idle and ticking; and
 * with the number of queues (10, 100, 1,000 memory queues; 10, 100 BullMQ queues on one throw-away
 * redis-server, beside raw BullMQ). Every measurement in a Node process of its own (scale.case.ts),
 * one at a time (a ticking app's CPU must not share the machine with another app), in an order that
 * rotates from round to round.
 *
 * BENCH_SCALE_SECONDS (window of the task and memory-queue cases, default 5), BENCH_SCALE_BULLMQ_SECONDS
 * (window of the BullMQ cases, default 15; 30 holds exactly one stalled-jobs check per worker), BENCH_SCALE_ROUNDS
 * (default 2); BENCH_SCALE_TASKS, BENCH_SCALE_QUEUES, BENCH_SCALE_BULLMQ_QUEUES (comma lists, empty
 * for none) shorten it for a quick check.
 */
import { Redis } from 'ioredis';
import * as path from 'node:path';
import { repoRoot } from '../test/support/paths.js';
import { startRedisServer, type RedisServerHandle } from '../test/support/redis-server.js';
import { runInChild } from './bench-child.js';
import { fmt, median, sized, sleep, spread, table, type BenchResult, type BenchTarget } from './bench-result.js';
import {
  IDLE_PERIOD_MS,
  PROVIDERS_PER_MODULE,
  SETTLE_IDLE_MS,
  SETTLE_TICKING_MS,
  TICK_PERIOD_MS,
  type QueueFigure,
  type QueueLib,
  type ScaleCase,
  type TaskFigure,
  type TaskLib,
  type TaskMode,
} from './scale.case.js';

const caseFile = path.join(repoRoot, 'bench', 'scale.case.ts');
const list = (name: string, fallback: number[]): number[] =>
  process.env[name] === undefined ? fallback : process.env[name]!.split(',').filter((s) => s.trim() !== '').map(Number);

const NS = list('BENCH_SCALE_TASKS', sized([100, 1_000, 4_000, 8_000], [20]));
const MEMORY_QUEUES = list('BENCH_SCALE_QUEUES', sized([10, 100, 1_000], [5]));
const BULLMQ_QUEUES = list('BENCH_SCALE_BULLMQ_QUEUES', sized([10, 100], [2]));
const SECONDS = Number(process.env.BENCH_SCALE_SECONDS ?? sized(5, 0.5));
/** BullMQ's workers run a stalled-jobs check every 30 s (its `stalledInterval`): a 15 s window holds one or none per worker (30 s: exactly one). */
const BULLMQ_SECONDS = Number(process.env.BENCH_SCALE_BULLMQ_SECONDS ?? sized(15, 0.5));
const ROUNDS = Number(process.env.BENCH_SCALE_ROUNDS ?? sized(2, 1));
/** Where the CPU-per-tick target is judged (the largest N measured when a quick check leaves them out). */
const TARGET_NS = ((wanted: number[]) => {
  const present = wanted.filter((n) => NS.includes(n));
  return present.length || NS.length === 0 ? present : [Math.max(...NS)];
})(sized([1_000, 8_000], [20]));

const TASK_LIBS: TaskLib[] = ['schedule', 'hosting', 'spread'];
const LIB_NAMES: Record<TaskLib, string> = {
  empty: 'empty Nest app (floor)',
  schedule: '`@nestjs/schedule` `@Interval` (anchor)',
  hosting: 'nest-hosting `@Periodic`',
  spread: `nest-hosting \`@Periodic\`, \`forRoot({ spreadMs: period })\` (lateness: start after the slot, the task's offset included)`,
};
const SHORT: Record<TaskLib, string> = { empty: 'empty app', schedule: '@nestjs/schedule', hosting: 'nest-hosting', spread: 'nest-hosting with spreadMs' };

type Key = string;
const taskKey = (lib: TaskLib, mode: TaskMode, n: number): Key => `tasks/${lib}/${mode}/${n}`;
const queueKey = (lib: QueueLib, m: number): Key => `queues/${lib}/${m}`;

const rotate = <T>(items: T[], round: number): T[] => {
  const by = Math.round((round * items.length) / ROUNDS) % Math.max(items.length, 1);
  return [...items.slice(by), ...items.slice(0, by)];
};

/** FLUSHALL, then waits until the server holds no connection but this one (the previous case's process is gone). */
async function emptyRedis(redis: RedisServerHandle): Promise<void> {
  const client = new Redis(redis.url);
  try {
    await client.flushall();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const clients = Number(/connected_clients:(\d+)/.exec(await client.info('clients'))?.[1]);
      if (clients === 1) break;
      if (Date.now() > deadline) throw new Error(`scale.bench.ts: redis-server still holds ${clients - 1} connections of an earlier case`);
      await sleep(50);
    }
  } finally {
    await client.quit();
  }
}

const kb = (bytes: number) => bytes / 1_024;
const mb = (bytes: number) => bytes / 1_048_576;
const times = (ratio: number) => `×${fmt(ratio, 2)}`;

export async function run(): Promise<BenchResult> {
  const taskCases: ScaleCase[] = NS.flatMap((n) => [
    { part: 'tasks' as const, lib: 'empty' as const, mode: 'idle' as const, n, seconds: SECONDS },
    ...TASK_LIBS.flatMap((lib) => (['idle', 'ticking'] as const).map((mode) => ({ part: 'tasks' as const, lib, mode, n, seconds: SECONDS }))),
  ]);
  const queueCases: ScaleCase[] = [
    ...MEMORY_QUEUES.flatMap((m) => (['floor', 'memory'] as const).map((lib) => ({ part: 'queues' as const, lib, m, seconds: SECONDS }))),
    ...BULLMQ_QUEUES.flatMap((m) => (['raw', 'bullmq'] as const).map((lib) => ({ part: 'queues' as const, lib, m, seconds: BULLMQ_SECONDS }))),
  ];
  const tasks = new Map<Key, TaskFigure[]>();
  const queues = new Map<Key, QueueFigure[]>();
  const redis = BULLMQ_QUEUES.length ? await startRedisServer() : undefined;
  const t0 = Date.now();
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of [...rotate(taskCases, r), ...rotate(queueCases, r)]) {
        if (c.part === 'tasks') {
          const figure = await runInChild<TaskFigure>(caseFile, { SCALE_CASE: JSON.stringify(c) });
          const key = taskKey(c.lib, c.mode, c.n);
          tasks.set(key, [...(tasks.get(key) ?? []), figure]);
        } else {
          const bull = c.lib === 'bullmq' || c.lib === 'raw';
          if (bull) await emptyRedis(redis!);
          const figure = await runInChild<QueueFigure>(caseFile, { SCALE_CASE: JSON.stringify(bull ? { ...c, redisUrl: redis!.url } : c) });
          const key = queueKey(c.lib, c.m);
          queues.set(key, [...(queues.get(key) ?? []), figure]);
        }
      }
    }
  } finally {
    await redis?.stop();
  }
  const runSeconds = (Date.now() - t0) / 1_000;

  // ---- tasks ----
  const tf = (lib: TaskLib, mode: TaskMode, n: number): TaskFigure[] => tasks.get(taskKey(lib, mode, n)) ?? [];
  const of = (lib: TaskLib, mode: TaskMode, n: number, pick: (f: TaskFigure) => number) => tf(lib, mode, n).map(pick);
  /** Per round: (value − the empty app's value in the same round) / N. */
  const perTask = (lib: TaskLib, n: number, pick: (f: TaskFigure) => number) =>
    tf(lib, 'idle', n).map((f, r) => (pick(f) - pick(tf('empty', 'idle', n)[r])) / n);
  const taskRows = NS.flatMap((n) => {
    const floor = tf('empty', 'idle', n);
    return [
      [
        n.toLocaleString('en-US'),
        LIB_NAMES.empty,
        spread(floor.map((f) => f.startMs), 0),
        spread(floor.map((f) => f.closeMs), 0),
        `floor: ${spread(floor.map((f) => mb(f.rssBytes)), 1)} MB`,
        `floor: ${spread(floor.map((f) => mb(f.heapBytes)), 1)} MB`,
        spread(floor.map((f) => f.cpuMsPerS), 3),
        '—',
        '—',
        '—',
        '—',
      ],
      ...TASK_LIBS.map((lib) => [
        n.toLocaleString('en-US'),
        LIB_NAMES[lib],
        spread(of(lib, 'idle', n, (f) => f.startMs), 0),
        spread(of(lib, 'idle', n, (f) => f.closeMs), 0),
        spread(perTask(lib, n, (f) => kb(f.rssBytes)), 2),
        spread(perTask(lib, n, (f) => kb(f.heapBytes)), 2),
        spread(of(lib, 'idle', n, (f) => f.cpuMsPerS), 3),
        spread(of(lib, 'ticking', n, (f) => f.cpuMsPerS), 2),
        spread(of(lib, 'ticking', n, (f) => f.cpuUsPerTick), 2),
        spread(of(lib, 'ticking', n, (f) => f.latenessP50Ms), 2),
        spread(of(lib, 'ticking', n, (f) => f.latenessP99Ms), 2),
      ]),
    ];
  });

  // Cost of one more task, between successive N (from the medians): the fixed costs drop out.
  const marginal = (lib: TaskLib, pick: (f: TaskFigure) => number, scale: number) =>
    NS.slice(1).map((n, i) => {
      const prev = NS[i];
      return ((median(of(lib, 'idle', n, pick)) - median(of(lib, 'idle', prev, pick))) / (n - prev)) * scale;
    });
  const flatness = (values: number[]) => {
    const positive = values.filter((v) => v > 0);
    return positive.length === values.length && values.length > 1 ? `, largest ÷ smallest ${times(Math.max(...values) / Math.min(...values))}` : '';
  };
  const perTaskSentence =
    NS.length < 2
      ? `Cost per added task: one N measured (${NS.join(', ')}), no slope.`
      : `Cost of one more task between successive N (${NS.map((n) => n.toLocaleString('en-US')).join(' → ')}; difference of the medians ÷ difference of N, so fixed costs drop out): ` +
        TASK_LIBS.map((lib) => {
          const heap = marginal(lib, (f) => f.heapBytes, 1 / 1_024);
          const rss = marginal(lib, (f) => f.rssBytes, 1 / 1_024);
          const start = marginal(lib, (f) => f.startMs, 1_000);
          const close = marginal(lib, (f) => f.closeMs, 1_000);
          const perTick = NS.map((n) => median(of(lib, 'ticking', n, (f) => f.cpuUsPerTick)));
          return (
            `${SHORT[lib]}: heap ${heap.map((v) => fmt(v, 2)).join(', ')} KB${flatness(heap)}; RSS ${rss.map((v) => fmt(v, 2)).join(', ')} KB${flatness(rss)}; ` +
            `start-up ${start.map((v) => fmt(v, 0)).join(', ')} µs${flatness(start)}; close ${close.map((v) => fmt(v, 0)).join(', ')} µs${flatness(close)}; ` +
            `CPU per tick at each N ${perTick.map((v) => fmt(v, 2)).join(', ')} µs${flatness(perTick)}`
          );
        }).join('. ') +
        '.';

  // ---- target: CPU per timer-driven tick, nest-hosting ÷ @nestjs/schedule, per round ----
  const targets: BenchTarget[] = TARGET_NS.map((n) => {
    const lib = of('hosting', 'ticking', n, (f) => f.cpuUsPerTick);
    const anchor = of('schedule', 'ticking', n, (f) => f.cpuUsPerTick);
    const ratios = lib.map((v, r) => v / anchor[r]);
    const ratio = median(ratios);
    const met = ratio <= 1;
    return {
      target: `CPU per timer-driven tick no higher than \`@nestjs/schedule\`'s at ${n.toLocaleString('en-US')} tasks (median of the per-round ratios nest-hosting ÷ @nestjs/schedule of CPU µs per tick, period ${TICK_PERIOD_MS.toLocaleString('en-US')} ms)`,
      measured: `${fmt(ratio, 2)}× (${fmt(median(lib), 2)} vs ${fmt(median(anchor), 2)} µs per tick), ${ratios.length} rounds`,
      met,
      gap: met
        ? undefined
        : `per round: nest-hosting ${lib.map((v) => fmt(v, 2)).join(', ')} µs, @nestjs/schedule ${anchor.map((v) => fmt(v, 2)).join(', ')} µs, ratios ${ratios.map((v) => fmt(v, 2)).join(', ')}`,
    };
  });

  // ---- queues ----
  const qf = (lib: QueueLib, m: number): QueueFigure[] => queues.get(queueKey(lib, m)) ?? [];
  const perQueue = (m: number, pick: (f: QueueFigure) => number) => qf('memory', m).map((f, r) => (pick(f) - pick(qf('floor', m)[r])) / m);
  const memoryRows = MEMORY_QUEUES.flatMap((m) => [
    [
      m.toLocaleString('en-US'),
      '`HostingModule.forRoot()` and the providers without `@QueueWorker`, no queue (floor)',
      spread(qf('floor', m).map((f) => f.startMs), 0),
      spread(qf('floor', m).map((f) => f.closeMs), 0),
      `floor: ${spread(qf('floor', m).map((f) => mb(f.rssBytes)), 1)} MB`,
      `floor: ${spread(qf('floor', m).map((f) => mb(f.heapBytes)), 1)} MB`,
      spread(qf('floor', m).map((f) => f.cpuMsPerS), 3),
    ],
    [
      m.toLocaleString('en-US'),
      'memory queues, each with a `@QueueWorker`',
      spread(qf('memory', m).map((f) => f.startMs), 0),
      spread(qf('memory', m).map((f) => f.closeMs), 0),
      spread(perQueue(m, (f) => kb(f.rssBytes)), 2),
      spread(perQueue(m, (f) => kb(f.heapBytes)), 2),
      spread(qf('memory', m).map((f) => f.cpuMsPerS), 3),
    ],
  ]);
  const blocking = (f: QueueFigure) => Object.entries(f.connectionNames ?? {}).reduce((sum, [name, count]) => sum + (name.startsWith('bull:') ? count : 0), 0);
  const bullRows = BULLMQ_QUEUES.flatMap((m) =>
    (['raw', 'bullmq'] as const).map((lib) => {
      const figures = qf(lib, m);
      return [
        m.toLocaleString('en-US'),
        lib === 'raw' ? 'raw BullMQ: a `Queue` and a `Worker` per queue (anchor)' : 'nest-hosting, `backend: { type: \'bullmq\' }`, a `@QueueWorker` per queue',
        spread(figures.map((f) => f.startMs), 0),
        lib === 'raw' ? '—' : spread(figures.map((f) => f.initMs ?? 0), 0),
        spread(figures.map((f) => f.closeMs), 0),
        spread(figures.map((f) => f.cpuMsPerS), 3),
        spread(figures.map((f) => f.connections ?? 0), 0),
        spread(figures.map((f) => (f.connections ?? 0) / m), 2),
        spread(figures.map(blocking), 0),
      ];
    }),
  );
  // Cost of one more queue between successive M (from the medians), as for the tasks.
  const queueSlope = (ms: number[], lib: QueueLib, pick: (f: QueueFigure) => number, scale: number) =>
    ms.slice(1).map((m, i) => ((median(qf(lib, m).map(pick)) - median(qf(lib, ms[i]).map(pick))) / (m - ms[i])) * scale);
  const slopeList = (values: number[], digits: number, unit: string) => `${values.map((v) => fmt(v, digits)).join(', ')}${unit ? ` ${unit}` : ''}${flatness(values)}`;
  const memoryQueueSentence =
    MEMORY_QUEUES.length < 2
      ? `Cost per added memory queue: one M measured (${MEMORY_QUEUES.join(', ')}), no slope.`
      : `Cost of one more memory queue between successive M (${MEMORY_QUEUES.map((m) => m.toLocaleString('en-US')).join(' → ')}; difference of the medians ÷ difference of M): ` +
        `heap ${slopeList(queueSlope(MEMORY_QUEUES, 'memory', (f) => f.heapBytes, 1 / 1_024), 2, 'KB')}; RSS ${slopeList(queueSlope(MEMORY_QUEUES, 'memory', (f) => f.rssBytes, 1 / 1_024), 2, 'KB')}; ` +
        `start-up ${slopeList(queueSlope(MEMORY_QUEUES, 'memory', (f) => f.startMs, 1_000), 0, 'µs')}; close ${slopeList(queueSlope(MEMORY_QUEUES, 'memory', (f) => f.closeMs, 1_000), 0, 'µs')}; ` +
        `idle CPU ${slopeList(queueSlope(MEMORY_QUEUES, 'memory', (f) => f.cpuMsPerS, 1_000), 2, 'µs/s')}.`;
  const bullSentence =
    BULLMQ_QUEUES.length < 2
      ? `Cost per added BullMQ queue: one M measured (${BULLMQ_QUEUES.join(', ')}), no slope.`
      : `Cost of one more BullMQ queue between successive M (${BULLMQ_QUEUES.map((m) => m.toLocaleString('en-US')).join(' → ')}; difference of the medians ÷ difference of M): ` +
        (['bullmq', 'raw'] as const)
          .map(
            (lib) =>
              `${lib === 'raw' ? 'raw BullMQ' : 'nest-hosting'}: idle CPU ${slopeList(queueSlope(BULLMQ_QUEUES, lib, (f) => f.cpuMsPerS, 1_000), 2, 'µs/s')}, ` +
              `start-up ${slopeList(queueSlope(BULLMQ_QUEUES, lib, (f) => f.startMs, 1), 2, 'ms')}, Redis connections ${slopeList(queueSlope(BULLMQ_QUEUES, lib, (f) => f.connections ?? 0, 1), 2, '')}`,
          )
          .join('; ') +
        '.';

  const allTasks = [...tasks.values()].flat();
  const idleTaskFigures = [...tasks.entries()].filter(([key]) => key.includes('/idle/')).flatMap(([, figures]) => figures);
  const allQueues = [...queues.values()].flat();
  const gcs = (figures: Array<{ windowGcs: number; windowMajorGcs: number }>) =>
    `${figures.reduce((s, f) => s + f.windowGcs, 0)} (${figures.reduce((s, f) => s + f.windowMajorGcs, 0)} major)`;

  const method =
    `Tasks: for each N, N provider classes made in a loop, each with one method, at most ${PROVIDERS_PER_MODULE} providers per \`@Module\` ` +
    `(a single Nest module overflows Nest's own stack near 10,000–15,000 providers), those modules imported by the app module: ` +
    `\`@Periodic(period, { name })\` under \`HostingModule.forRoot()\`; \`@Interval(name, period)\` under \`ScheduleModule.forRoot()\` (the anchor); ` +
    `\`@Periodic\` under \`HostingModule.forRoot({ spreadMs: period })\`; and the empty app: the same classes and modules, undecorated, no scheduler module (the floor). ` +
    `Each app in a Node process of its own (every process loads the same code: nest-hosting, @nestjs/schedule), idle (period ${IDLE_PERIOD_MS.toLocaleString('en-US')} ms, nothing due in the window) ` +
    `or ticking (period ${TICK_PERIOD_MS.toLocaleString('en-US')} ms). Start-up = \`NestFactory.createApplicationContext\` + \`app.init()\`; then a forced GC, a settle ` +
    `(${SETTLE_IDLE_MS / 1_000} s idle, ${SETTLE_TICKING_MS / 1_000} s ticking: every task has ticked ten times, so that V8 has optimised each library's tick path and the window sees the steady state), a window of ${SECONDS} s with \`process.cpuUsage\` (user + system) → CPU ms per second of wall time, ` +
    `and, ticking, CPU µs per tick = the window's CPU ÷ the ticks its handlers counted (the process's whole CPU: its idle share included, the idle column is beside it); RSS and \`heapUsed\` after a forced GC at the end of the window; then \`app.close()\`. ` +
    `Start-up, close, memory and idle CPU come from the idle runs; per task = (app − the empty app of the same N and round) ÷ N. ` +
    `Lateness, in each handler, wall time \`performance.timeOrigin + performance.now()\` at its start minus: nest-hosting, \`ctx.scheduledAt\` (with \`spreadMs\`, the grid slot: the task's offset is included); ` +
    `@nestjs/schedule, which has no scheduled instant, the nominal grid of the task's interval: created + k × period for its k-th run, with k counted in the handler ` +
    `(not rounded from the elapsed time, which would fold drift beyond half a period back onto the grid) and the creation noted by wrapping \`setInterval\` before @nestjs/schedule is loaded ` +
    `(Node's own timer is returned: nothing is added to a tick). So drift against the grid counts: Node re-arms an interval from the start of its callback, so on @nestjs/schedule each tick that fires late ` +
    `moves the later ones, and the figure grows with the time the app has run (here the settle and the window). ` +
    `Node keeps timers on a whole-millisecond loop clock, so a tick may start up to about 1 ms before its instant (negative values). ` +
    `Both handlers do the same work: read the clock, count the tick, store the lateness in a preallocated array (nest-hosting reads \`ctx.scheduledAt\`, a \`Date\`; @nestjs/schedule increments the task's run count). ` +
    `Queues: M queues registered with \`HostingModule.registerQueue({ name })\`, each with a \`@QueueWorker(name)\` provider method, beside the floor (\`HostingModule.forRoot()\` and the M providers without \`@QueueWorker\`), ` +
    `measured as the idle task apps (window ${SECONDS} s). BullMQ: one throw-away redis-server, FLUSHALL and no connection left before each case; nest-hosting (\`HostingModule.forRoot({ redis: url })\`, ` +
    `\`registerQueue({ name, backend: { type: 'bullmq' } })\`, a \`@QueueWorker\` each) beside raw BullMQ (M \`Queue\` + M \`Worker\` with a no-op processor, connection options \`{ host, port }\`); ` +
    `start-up until every worker is ready (raw: every \`waitUntilReady()\`; nest-hosting: \`app.init()\`, then every queue's connections up in \`HostingRegistry\`), idle CPU over a ${BULLMQ_SECONDS} s window ` +
    `(it includes BullMQ's own timers: each idle worker blocks on \`BZPOPMIN\` for its \`drainDelay\` of 5 s and issues it again, and checks for stalled jobs every 30 s; nest-hosting also reads each queue's counts once a second), ` +
    `and Redis connections = \`connected_clients\` of \`INFO clients\` read on a probe connection of the app process after the window minus the same read before the start (the probe itself). ` +
    `Which could be shared (BullMQ 6, node_modules/bullmq): a \`Queue\` given an ioredis instance uses it as is, and so does a \`Worker\` for its command connection, ` +
    `but every \`Worker\` opens a blocking connection of its own for \`BZPOPMIN\` (named \`bull:<queue>\`, the "blocking" column), and a \`QueueEvents\` duplicates any instance for its blocking \`XREAD\`: ` +
    `at least M + 1 connections for M queues with workers in one process; nest-hosting adds per queue with a worker a pub/sub subscriber for cancels (bullmq-cancel-channel.ts). ` +
    `Rounds: ${ROUNDS}, every case one at a time, the order of the cases rotated each round. Cells: median (min–max) over the rounds. ` +
    `Collections seen in the windows: ${gcs(idleTaskFigures)} in the idle task windows, ${gcs(allTasks)} in all task windows, ${gcs(allQueues)} in the queue windows. Whole figure: ${fmt(runSeconds / 60, 1)} min.`;

  const markdown = [
    ...(NS.length
      ? [
          table(
            [
              'tasks',
              'app',
              'start-up (ms)',
              'close (ms)',
              'RSS per task (KB)',
              'heap per task (KB)',
              'idle CPU (ms/s)',
              'ticking CPU (ms/s)',
              'CPU per tick (µs)',
              'lateness p50 (ms)',
              'lateness p99 (ms)',
            ],
            taskRows,
          ),
          '',
          perTaskSentence,
          '',
        ]
      : []),
    ...(MEMORY_QUEUES.length
      ? [table(['memory queues', 'app', 'start-up (ms)', 'close (ms)', 'RSS per queue (KB)', 'heap per queue (KB)', 'idle CPU (ms/s)'], memoryRows), '', memoryQueueSentence, '']
      : []),
    ...(BULLMQ_QUEUES.length
      ? [
          table(
            [
              'BullMQ queues',
              'side',
              'start-up until workers ready (ms)',
              'of it `app.init()` (ms)',
              'close (ms)',
              'idle CPU (ms/s)',
              'Redis connections',
              'per queue',
              'of them blocking (`bull:<queue>`)',
            ],
            bullRows,
          ),
          '',
          bullSentence,
        ]
      : []),
  ].join('\n');

  return { title: '16. Scale', method, markdown: markdown.trimEnd(), targets };
}
