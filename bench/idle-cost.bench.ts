/**
 * Figure 7 — idle cost: CPU % of an app with 1,000 idle interval tasks and 1,000 idle cron tasks
 * on nest-hosting, beside the same tasks on @nestjs/schedule and an empty Nest app. Every
 * measurement in a process of its own (idle-cost.case.ts); each round runs the three apps side by
 * side (started a few seconds apart, in a different order each round: their windows are idle, and
 * CPU time is counted per process). BENCH_IDLE_SECONDS (default 30) and BENCH_IDLE_ROUNDS (default 5)
 * shorten it for a quick check.
 */
import * as path from 'node:path';
import { repoRoot } from '../test/support/paths.js';
import { runInChild } from './bench-child.js';
import { fmt, median, sized, sleep, spread, table, type BenchResult } from './bench-result.js';
import { CRON, INTERVAL_MS, MAX_REDUCER_WAIT_MS, TASKS, type IdleCase, type IdleFigure } from './idle-cost.case.js';

const caseFile = path.join(repoRoot, 'bench', 'idle-cost.case.ts');
const SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? sized(30, 1));
const ROUNDS = Number(process.env.BENCH_IDLE_ROUNDS ?? sized(5, 1));
/** Between the starts of the apps of one round: each start-up is over before the next begins (and long before any window opens). */
const STAGGER_MS = sized(3_000, 300);

export async function run(): Promise<BenchResult> {
  const cases: IdleCase[] = ['empty', 'schedule', 'hosting'];
  const figures: Record<IdleCase, IdleFigure[]> = { empty: [], schedule: [], hosting: [] };
  for (let r = 0; r < ROUNDS; r++) {
    // A different order each round: no app always starts first or last.
    const order = cases.map((_, i) => cases[(i + r) % cases.length]);
    await Promise.all(
      order.map(async (which, i) => {
        await sleep(i * STAGGER_MS);
        figures[which][r] = await runInChild<IdleFigure>(caseFile, { IDLE_CASE: which, IDLE_SECONDS: String(SECONDS) });
      }),
    );
  }
  const cpu = (which: IdleCase) => figures[which].map((f) => f.cpuPercent);
  const hostingMedian = median(cpu('hosting'));
  const scheduleMedian = median(cpu('schedule'));
  const windowMs = (which: IdleCase) => figures[which].map((f) => f.cpuMs);
  // The two apps ran side by side in each round: the per-round difference is the paired comparison.
  const diffs = figures.hosting.map((f, r) => f.cpuMs - figures.schedule[r].cpuMs);
  const medianDiff = median(diffs);
  // The smallest change this run tells from noise: the floor's own round-to-round spread (the empty
  // app does the same nothing in every round). A wake a minute (about 0.4 ms) would exceed it.
  const resolution = Math.max(...windowMs('empty')) - Math.min(...windowMs('empty'));
  const met = medianDiff <= resolution;
  const windowGcs = Object.values(figures).flat().reduce((sum, f) => sum + f.windowGcs, 0);
  const ms = (which: IdleCase) => median(figures[which].map((f) => f.cpuMs));
  const cells = (which: IdleCase) => [
    spread(cpu(which), 4),
    spread(figures[which].map((f) => f.cpuMs), 2),
    spread(figures[which].map((f) => f.rssMb), 1),
    spread(figures[which].map((f) => f.startMs), 0),
    `${spread(figures[which].map((f) => f.settleMs / 1_000), 1)} s, ${spread(figures[which].map((f) => f.settleCpuMs), 0)} ms (${spread(figures[which].map((f) => f.settleMajorGcs), 0)} major GCs)`,
  ];
  return {
    title: '7. Idle cost',
    method:
      `An app with ${TASKS.toLocaleString()} interval tasks (period ${INTERVAL_MS.toLocaleString()} ms) and ${TASKS.toLocaleString()} cron tasks ` +
      `(\`${CRON}\`), one method per provider class, the classes made in a loop with the decorators applied to them: ` +
      '`@Periodic` under `HostingModule.forRoot()`, and `@Interval` / `@Cron` under `ScheduleModule.forRoot()` (the anchor); ' +
      `and an empty Nest app (the floor). Nothing is due in the window. After start-up, a forced GC and a 1 s settle, each app waits ` +
      `for the major collections V8's memory reducer runs some seconds after start-up (the window opens 3 s after the last ` +
      `collection once a major one was seen, or after ${MAX_REDUCER_WAIT_MS / 1_000} s); that wait, its CPU and its major collections are shown in their own ` +
      `column, so they are neither hidden nor left to land in some windows and not others. Then CPU % = (user + system CPU of ` +
      `\`process.cpuUsage\`) / wall time over ${SECONDS} s; collections seen in the windows: ${windowGcs}. ` +
      `Each app in a Node process of its own; rounds: ${ROUNDS}, each running the three apps side by side, started ${STAGGER_MS / 1_000} s apart ` +
      `in a different order each round (CPU time is per process, and no start-up overlaps a window). Cells: median (min–max) over the rounds.`,
    markdown:
      table(
        ['app', 'CPU % idle', 'CPU ms in the window', 'RSS at the end (MB)', 'start-up (ms)', 'wait for the one-off GC: time, CPU'],
        [
          ['empty Nest app (floor)', ...cells('empty')],
          [`\`@nestjs/schedule\`: ${TASKS.toLocaleString()} \`@Interval\` + ${TASKS.toLocaleString()} \`@Cron\` (anchor)`, ...cells('schedule')],
          [`nest-hosting: ${TASKS.toLocaleString()} \`@Periodic(ms)\` + ${TASKS.toLocaleString()} \`@Periodic({ cron })\``, ...cells('hosting')],
        ],
      ) +
      `\n\nnest-hosting minus \`@nestjs/schedule\`, CPU ms in the window, per round: ${diffs.map((d) => `${d >= 0 ? '+' : ''}${fmt(d, 2)}`).join(', ')} ` +
      `(median ${medianDiff >= 0 ? '+' : ''}${fmt(medianDiff, 2)} ms). This run's resolution, the empty app's spread across rounds: ${fmt(resolution, 2)} ms.`,
    targets: [
      {
        target: `idle CPU with ${TASKS.toLocaleString()} interval + ${TASKS.toLocaleString()} cron tasks no more than \`@nestjs/schedule\`'s (median of the per-round differences, side by side, within this run's resolution)`,
        measured: `${medianDiff >= 0 ? '+' : ''}${fmt(medianDiff, 2)} ms CPU in ${SECONDS} s (resolution ${fmt(resolution, 2)} ms); medians ${fmt(ms('hosting'), 2)} vs ${fmt(ms('schedule'), 2)} ms (${fmt(hostingMedian, 4)}% vs ${fmt(scheduleMedian, 4)}%; empty app ${fmt(median(cpu('empty')), 4)}%), ${ROUNDS} rounds`,
        met,
        gap: met ? undefined : 'see the per-round differences under the table',
      },
    ],
  };
}
