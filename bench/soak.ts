/**
 * `npm run soak` (scripts/soak.mjs): a bounded fault-injection soak of the sample shop on Redis.
 *
 * A real redis-server (append-only file, fsync on every write) on a free 127.0.0.1 port; the
 * sample's web entry (sample-app/main.ts, HTTP on PORT) and two worker entries
 * (sample-app/worker.ts) as real processes sharing one fresh DATA_DIR (SQLite) and REDIS_URL,
 * run through the same loader as the tests' child processes (test/support/child-app.ts: Nest 11
 * in CommonJS, or Nest 12 in ESM with NEST_MAJOR=12 / --nest 12). Orders are placed at a steady
 * rate; on a schedule a worker is SIGKILLed and restarted, Redis is stopped gracefully and started
 * again with its data, and the web process is SIGTERMed (its exit code recorded) and restarted.
 * Then the load stops, the system drains, and the database says what happened to every order
 * accepted with a 2xx: lost (its email never sent: must be 0), duplicated deliveries, the longest
 * gap in processing; plus the peak RSS of each process and every exit code.
 *
 *   npm run soak                      # 3 minutes of load, writes "## Reliability" in BENCHMARKS.md
 *   npm run soak -- --minutes 10      # longer; --seconds N, --rate N (orders/s, 10), --drain-seconds N (120),
 *                                     # --fault-every-seconds N (15), --redis-down-ms N (1000),
 *                                     # --email-ms N (EMAIL_SEND_MS, 250), --nest 11|12, --keep (logs, data)
 *   node scripts/soak.mjs --seconds 20   # without --write: BENCHMARKS.md is left alone (tests)
 *
 * Prints a summary table and a `SOAK_RESULT {json}` line; exits 1 when an accepted order lost its
 * email, a SIGTERMed process did not exit 0, or a process exited on its own.
 */
import BetterSqlite3 from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { getFreePort } from '../test/support/free-port.js';
import { fromRoot, repoRoot } from '../test/support/paths.js';
import { delay, PersistentRedis, REDIS_PERSISTENCE, redisKeyCount, RssSampler, SampleProcess, type NodeExit } from './soak-processes.js';
import { table } from './bench-result.js';
import { withReliabilitySection } from './soak-section.js';

interface SoakOptions {
  loadS: number;
  rate: number;
  drainS: number;
  faultEveryS: number;
  redisDownMs: number;
  emailMs: number;
  nestMajor: 11 | 12;
  write: boolean;
  keep: boolean;
}

type FaultKind = 'worker-sigkill' | 'redis-restart' | 'web-sigterm';
const FAULT_KINDS: FaultKind[] = ['worker-sigkill', 'redis-restart', 'web-sigterm'];
const FAULT_LABEL: Record<FaultKind, string> = {
  'worker-sigkill': 'worker SIGKILL + restart',
  'redis-restart': 'Redis graceful restart',
  'web-sigterm': 'web SIGTERM + restart',
};

interface FaultRecord {
  kind: FaultKind;
  atS: number;
  detail: string;
  /** Seconds from the fault to the process (or Redis) being back and ready. */
  recoveryS: number;
}

export interface SoakResult {
  startedAt: string;
  nestMajor: number;
  node: string;
  cpus: number;
  persistence: string;
  rate: number;
  emailMs: number;
  loadS: number;
  drainS: number;
  drainLimitS: number;
  drainComplete: boolean;
  requests: number;
  accepted: number;
  refused: number;
  failed: number;
  httpErrors: Record<string, number>;
  lost: number;
  lostIds: number[];
  duplicatedOrders: number;
  extraDeliveries: number;
  duplicatedIds: number[];
  longestGapS: number;
  longestGapAtS: number | null;
  emailLatencyS: { p50: number; p99: number; max: number };
  storedWithoutAnswer: { orders: number; emailsSent: number };
  faults: Record<FaultKind, number>;
  faultLog: FaultRecord[];
  webExitCodes: Array<number | null>;
  finalExits: Array<{ role: string; code: number | null; signal: string | null }>;
  unexpectedExits: NodeExit[];
  peakRss: Array<{ role: string; mb: number; incarnations: number }>;
  logLines: Record<string, { errors: number; warnings: number }>;
  failures: string[];
}

const MAIN = fromRoot('sample-app', 'main.ts');
const WORKER = fromRoot('sample-app', 'worker.ts');

function parseArgs(argv: string[]): SoakOptions {
  const opts: SoakOptions = {
    loadS: 180,
    rate: 10,
    drainS: 120,
    faultEveryS: 15,
    redisDownMs: 1_000,
    emailMs: 250,
    nestMajor: process.env.NEST_MAJOR === '12' ? 12 : 11,
    write: false,
    keep: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): number => {
      const raw = inline ?? argv[++i];
      const n = Number(raw);
      if (raw === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`soak: ${flag} needs a positive number, got ${raw}`);
      return n;
    };
    switch (flag) {
      case '--minutes': opts.loadS = value() * 60; break;
      case '--seconds': opts.loadS = value(); break;
      case '--rate': opts.rate = value(); break;
      case '--drain-seconds': opts.drainS = value(); break;
      case '--fault-every-seconds': opts.faultEveryS = value(); break;
      case '--redis-down-ms': opts.redisDownMs = value(); break;
      case '--email-ms': opts.emailMs = value(); break;
      case '--nest': {
        const major = value();
        if (major !== 11 && major !== 12) throw new Error(`soak: --nest is 11 or 12, got ${major}`);
        opts.nestMajor = major;
        break;
      }
      case '--write': opts.write = true; break;
      case '--no-write': opts.write = false; break;
      case '--keep': opts.keep = true; break;
      default: throw new Error(`soak: unknown argument ${arg}`);
    }
  }
  return opts;
}

/** POST /orders at a steady rate; an order counts as accepted only on a 2xx answer. */
class LoadGenerator {
  readonly acceptedIds: number[] = [];
  readonly latenciesMs: number[] = [];
  readonly httpErrors: Record<string, number> = {};
  requests = 0;
  refused = 0;
  failed = 0;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly rate: number,
  ) {}

  start(): void {
    const intervalMs = 1_000 / this.rate;
    const t0 = performance.now();
    let k = 0;
    const tick = (): void => {
      if (this.stopped) return;
      const request = this.place(k++);
      this.inFlight.add(request);
      void request.finally(() => this.inFlight.delete(request));
      this.timer = setTimeout(tick, Math.max(0, t0 + k * intervalMs - performance.now()));
    };
    tick();
  }

  /** Stops placing orders and waits for the answers of those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all([...this.inFlight]);
  }

  private async place(n: number): Promise<void> {
    this.requests++;
    const body = { customerEmail: `soak${n}@example.com`, items: [{ sku: 'TEA-01', quantity: 1 + (n % 3) }, { sku: 'MUG-02', quantity: 1 }] };
    const started = performance.now();
    try {
      const response = await fetch(`${this.url}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      if (response.status >= 200 && response.status < 300) {
        const id = Number((JSON.parse(text) as { id?: unknown }).id);
        if (!Number.isInteger(id)) throw new Error(`2xx without an order id: ${text.slice(0, 200)}`);
        this.acceptedIds.push(id);
        this.latenciesMs.push(performance.now() - started);
      } else {
        this.httpErrors[response.status] = (this.httpErrors[response.status] ?? 0) + 1;
      }
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      if (code === 'ECONNREFUSED') this.refused++;
      else this.failed++;
    }
  }
}

interface DbState {
  /** order id -> first delivery time (ms since epoch), or null. */
  sentAt: Map<number, number | null>;
  createdAt: Map<number, number>;
  /** Every delivery's time, sorted. */
  deliveries: number[];
  deliveriesPerOrder: Map<number, number>;
}

function readDb(file: string): DbState {
  const db = new BetterSqlite3(file, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const orders = db
      .prepare('SELECT o.id, o.created_at, e.sent_at FROM orders o LEFT JOIN emails e ON e.order_id = o.id')
      .all() as Array<{ id: number; created_at: string; sent_at: string | null }>;
    const deliveries = db.prepare('SELECT order_id, delivered_at FROM email_deliveries ORDER BY delivered_at').all() as Array<{
      order_id: number;
      delivered_at: string;
    }>;
    const deliveriesPerOrder = new Map<number, number>();
    for (const d of deliveries) deliveriesPerOrder.set(d.order_id, (deliveriesPerOrder.get(d.order_id) ?? 0) + 1);
    return {
      sentAt: new Map(orders.map((o) => [o.id, o.sent_at ? Date.parse(o.sent_at) : null])),
      createdAt: new Map(orders.map((o) => [o.id, Date.parse(o.created_at)])),
      deliveries: deliveries.map((d) => Date.parse(d.delivered_at)),
      deliveriesPerOrder,
    };
  } finally {
    db.close();
  }
}

/**
 * The longest stretch with at least one accepted order waiting for its email and no email sent:
 * the pending spans [created, sent] of accepted orders are merged into busy periods, and within
 * each the longest distance between consecutive deliveries (or the period's ends) is taken.
 */
function longestGap(pending: Array<[number, number]>, deliveries: number[]): { ms: number; at: number | null } {
  const spans = pending.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const busy: Array<[number, number]> = [];
  for (const [a, b] of spans) {
    const last = busy.at(-1);
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else busy.push([a, b]);
  }
  let best = { ms: 0, at: null as number | null };
  let d = 0;
  for (const [a, b] of busy) {
    while (d < deliveries.length && deliveries[d]! <= a) d++;
    let previous = a;
    while (d < deliveries.length && deliveries[d]! < b) {
      if (deliveries[d]! - previous > best.ms) best = { ms: deliveries[d]! - previous, at: previous };
      previous = deliveries[d]!;
      d++;
    }
    if (b - previous > best.ms) best = { ms: b - previous, at: previous };
  }
  return best;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const fmt = (n: number, digits = 1): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const int = (n: number): string => n.toLocaleString('en-US');

function countLogLines(output: string): { errors: number; warnings: number } {
  return { errors: (output.match(/\sERROR\s/g) ?? []).length, warnings: (output.match(/\sWARN\s/g) ?? []).length };
}

function summaryTables(r: SoakResult): string {
  const exitText = (e: { code: number | null; signal: string | null }) => (e.signal ? e.signal : `code ${e.code}`);
  const summary = table(
    ['figure', 'value'],
    [
      ['load', `${fmt(r.rate, 0)} orders/s for ${fmt(r.loadS, 0)} s: ${int(r.requests)} requests`],
      ['accepted (2xx)', int(r.accepted)],
      ['not accepted', `${int(r.refused)} connection refused, ${int(r.failed)} failed or timed out, ${Object.entries(r.httpErrors).map(([s, n]) => `${int(n)} HTTP ${s}`).join(', ') || 'no HTTP error'}`],
      ['emails sent for accepted orders', int(r.accepted - r.lost)],
      ['**lost** (accepted, email never sent)', r.lost === 0 ? '**0**' : `**${int(r.lost)}** (orders ${r.lostIds.join(', ')}${r.lost > r.lostIds.length ? ', …' : ''})`],
      ['duplicated (emails delivered more than once)', `${int(r.duplicatedOrders)} order(s), ${int(r.extraDeliveries)} extra delivery(ies)`],
      ['longest gap in processing', `${fmt(r.longestGapS, 2)} s${r.longestGapAtS === null ? '' : ` (from t = ${fmt(r.longestGapAtS)} s)`}`],
      ['order → email sent, accepted orders', `p50 ${fmt(r.emailLatencyS.p50, 2)} s, p99 ${fmt(r.emailLatencyS.p99, 2)} s, max ${fmt(r.emailLatencyS.max, 2)} s`],
      ['orders stored without a 2xx answer', `${int(r.storedWithoutAnswer.orders)} (emails sent: ${int(r.storedWithoutAnswer.emailsSent)})`],
      ['drain after the load', `${fmt(r.drainS)} s (limit ${fmt(r.drainLimitS, 0)} s)${r.drainComplete ? '' : ' **timed out**'}`],
      ['Redis persistence', r.persistence],
      ['faults injected', FAULT_KINDS.map((k) => `${FAULT_LABEL[k]} ×${r.faults[k]}`).join(', ')],
      ['web exit codes after SIGTERM', r.webExitCodes.map((c) => String(c)).join(', ') || 'none'],
      ['final SIGTERM exits', r.finalExits.map((e) => `${e.role} ${exitText(e)}`).join(', ')],
      ['processes that exited on their own', r.unexpectedExits.length ? r.unexpectedExits.map((e) => `${e.role} ${exitText(e)} at t = ${fmt(e.atS)} s`).join(', ') : 'none'],
    ],
  );
  const rss = table(
    ['process', 'incarnations', 'peak RSS (MB)'],
    r.peakRss.map((p) => [p.role, p.incarnations, fmt(p.mb)]),
  );
  const faults = table(
    ['t (s)', 'fault', 'what happened', 'back in (s)'],
    r.faultLog.map((f) => [fmt(f.atS), FAULT_LABEL[f.kind], f.detail, fmt(f.recoveryS)]),
  );
  const logs = table(
    ['process', 'ERROR lines', 'WARN lines'],
    Object.entries(r.logLines).map(([role, n]) => [role, n.errors, n.warnings]),
  );
  return [summary, '', rss, '', faults, '', logs].join('\n');
}

function section(r: SoakResult): string {
  return [
    '## Reliability',
    '',
    `Written by \`npm run soak\` (bench/soak.ts) on ${r.startedAt}: Node ${r.node}, ${r.cpus} cores, the sample's processes on Nest ${r.nestMajor} ` +
      `(${r.nestMajor === 12 ? 'ES modules' : 'CommonJS'}). Every figure below comes from that run.`,
    '',
    `The sample shop (\`sample-app/\`) on a real redis-server: one web process (\`main.ts\`, HTTP + background work) and two ` +
      `worker processes (\`worker.ts\`) sharing one SQLite file and the BullMQ \`emails\` queue. Orders were placed at ${fmt(r.rate, 0)}/s for ` +
      `${fmt(r.loadS, 0)} s (an order counts as accepted only on a 2xx answer); meanwhile, in turn, a worker was SIGKILLed and restarted, Redis was ` +
      `stopped gracefully and started again on its port with its data, and the web process was SIGTERMed (its exit code recorded) and restarted. ` +
      `Then the load stopped and the system drained (at most ${fmt(r.drainLimitS, 0)} s) before every process was SIGTERMed. ` +
      `Redis persistence: ${r.persistence}. Lost = accepted orders ` +
      `whose email was never sent; duplicated = emails with more than one recorded delivery (\`email_deliveries\`); the longest gap = the longest ` +
      `time with accepted orders waiting and no email sent; peak RSS = the highest VmHWM of any incarnation (sampled every 0.5 s from /proc). ` +
      `Times t count from the soak's start; the load starts once the three processes are ready.`,
    '',
    summaryTables(r),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  process.env.NEST_MAJOR = String(opts.nestMajor); // read by spawnChildApp
  process.env.NEST_TEST_MODE = opts.nestMajor === 12 ? 'esm' : 'cjs';
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-soak-'));
  const dataDir = path.join(runDir, 'data');
  const logsDir = path.join(runDir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  const startedAt = new Date();
  const t0 = Date.now();
  const clock = () => (Date.now() - t0) / 1_000;
  const say = (line: string): void => void process.stdout.write(`[soak ${fmt(clock())} s] ${line}\n`);
  say(
    `run dir ${runDir}; load ${fmt(opts.loadS, 0)} s at ${fmt(opts.rate, 0)} orders/s, a fault every ~${fmt(opts.faultEveryS, 0)} s, ` +
      `drain ≤ ${fmt(opts.drainS, 0)} s, EMAIL_SEND_MS ${opts.emailMs}, Nest ${opts.nestMajor}`,
  );

  const rss = new RssSampler();
  const redis = new PersistentRedis(await getFreePort(), path.join(runDir, 'redis'), rss);
  await redis.start();
  say(`redis-server on ${redis.url}, persistence: ${REDIS_PERSISTENCE}`);

  const unexpectedExits: NodeExit[] = [];
  const failures: string[] = [];
  let finalStop = false;
  const restarts: Array<Promise<void>> = [];
  const onUnexpectedExit = (exit: NodeExit) => {
    unexpectedExits.push(exit);
    say(`UNEXPECTED: ${exit.role} (pid ${exit.pid}) exited on its own: ${JSON.stringify({ code: exit.code, signal: exit.signal })}`);
    if (finalStop) return;
    const p = processes.find((x) => x.role === exit.role)!;
    restarts.push(
      p.start().then(
        () => void say(`${exit.role} restarted after its unexpected exit`),
        (e: Error) => void failures.push(`${exit.role} restart: ${e.message}`),
      ),
    );
  };
  const webPort = await getFreePort();
  const env = { REDIS_URL: redis.url, DATA_DIR: dataDir, NO_COLOR: '1', EMAIL_SEND_MS: String(opts.emailMs) };
  const web = new SampleProcess('web', MAIN, /Listening on http/, { ...env, PORT: String(webPort) }, rss, clock, onUnexpectedExit);
  const workers = [1, 2].map((i) => new SampleProcess(`worker-${i}`, WORKER, 'Worker running (emails queue: Redis)', env, rss, clock, onUnexpectedExit));
  const processes = [web, ...workers];

  const faultLog: FaultRecord[] = [];
  const webExitCodes: Array<number | null> = [];
  let finalExits: SoakResult['finalExits'];
  let result: SoakResult | undefined;
  try {
    await web.start(); // first: it creates the schema the workers share
    await Promise.all(workers.map((w) => w.start()));
    say(`web (pid ${web.pid}) on http://127.0.0.1:${webPort}, worker-1 (pid ${workers[0]!.pid}), worker-2 (pid ${workers[1]!.pid}) ready`);

    // Load, with the faults on a schedule scaled to its length: each kind at least once.
    const load = new LoadGenerator(`http://127.0.0.1:${webPort}`, opts.rate);
    const loadStart = clock();
    load.start();
    const faultCount = Math.max(FAULT_KINDS.length, Math.round(opts.loadS / opts.faultEveryS));
    let killNext = 0;
    for (let i = 0; i < faultCount; i++) {
      const at = loadStart + (opts.loadS * (i + 1)) / (faultCount + 1);
      if (clock() < at) await delay((at - clock()) * 1_000);
      const kind = FAULT_KINDS[i % FAULT_KINDS.length]!;
      const atS = clock();
      let detail: string;
      if (kind === 'worker-sigkill') {
        const worker = workers[killNext++ % workers.length]!;
        const pid = worker.pid;
        await worker.kill();
        await worker.start();
        detail = `${worker.role} (pid ${pid}) SIGKILLed; restarted as pid ${worker.pid}`;
      } else if (kind === 'redis-restart') {
        const keysBefore = await redisKeyCount(redis.port);
        const pid = redis.pid;
        const exit = await redis.stop();
        if (exit.code !== 0) failures.push(`redis-server stopped with ${JSON.stringify(exit)}`);
        await delay(opts.redisDownMs);
        await redis.start();
        const keysAfter = await redisKeyCount(redis.port);
        detail = `pid ${pid} stopped (exit ${exit.signal ?? `code ${exit.code}`}, ${keysBefore ?? '?'} keys), down ${fmt(opts.redisDownMs / 1_000)} s, restarted as pid ${redis.pid} (${keysAfter ?? '?'} keys loaded)`;
      } else {
        const pid = web.pid;
        const exit = await web.terminate();
        webExitCodes.push(exit.code);
        if (exit.code !== 0) failures.push(`web (pid ${pid}) SIGTERM at t = ${fmt(atS)} s: exit ${JSON.stringify({ code: exit.code, signal: exit.signal })}`);
        const exitedAfter = clock() - atS;
        await web.start();
        detail = `pid ${pid} exited with ${exit.signal ?? `code ${exit.code}`} ${fmt(exitedAfter)} s after SIGTERM; restarted as pid ${web.pid}`;
      }
      const record = { kind, atS, detail, recoveryS: clock() - atS };
      faultLog.push(record);
      say(`fault ${i + 1}/${faultCount}: ${FAULT_LABEL[kind]}: ${detail} (back in ${fmt(record.recoveryS)} s)`);
    }
    const loadEnd = Math.max(loadStart + opts.loadS, clock() + 2);
    if (clock() < loadEnd) await delay((loadEnd - clock()) * 1_000);
    await load.stop();
    await Promise.all(restarts);
    const loadS = clock() - loadStart;
    say(`load stopped: ${load.requests} requests, ${load.acceptedIds.length} accepted; draining`);

    // Drain: until every accepted order's email is sent, or the drain timeout.
    const dbFile = path.join(dataDir, 'shop.sqlite');
    const drainStart = clock();
    let drainComplete = false;
    for (;;) {
      const state = readDb(dbFile);
      const waiting = load.acceptedIds.filter((id) => !state.sentAt.get(id)).length;
      if (waiting === 0) {
        drainComplete = true;
        break;
      }
      if (clock() - drainStart > opts.drainS) break;
      await delay(500);
    }
    const drainS = clock() - drainStart;
    say(drainComplete ? `drained in ${fmt(drainS)} s` : `drain timed out after ${fmt(drainS)} s`);

    // Graceful stop of everything, then the database's final word.
    finalStop = true;
    const exits = await Promise.all(processes.filter((p) => p.running).map((p) => p.terminate()));
    finalExits = exits.map((e) => ({ role: e.role, code: e.code, signal: e.signal }));
    for (const e of exits) if (e.code !== 0) failures.push(`${e.role} final SIGTERM: exit ${JSON.stringify({ code: e.code, signal: e.signal })}`);
    const endWall = Date.now();
    const state = readDb(dbFile);

    const accepted = new Set(load.acceptedIds);
    const lostIds = load.acceptedIds.filter((id) => !state.sentAt.get(id)).sort((a, b) => a - b);
    const duplicated = [...state.deliveriesPerOrder].filter(([, n]) => n > 1);
    const pending: Array<[number, number]> = load.acceptedIds.map((id) => [state.createdAt.get(id) ?? endWall, state.sentAt.get(id) ?? endWall]);
    const gap = longestGap(pending, state.deliveries);
    const latencies = load.acceptedIds
      .filter((id) => state.sentAt.get(id))
      .map((id) => (state.sentAt.get(id)! - state.createdAt.get(id)!) / 1_000)
      .sort((a, b) => a - b);
    const unanswered = [...state.sentAt.keys()].filter((id) => !accepted.has(id));
    if (lostIds.length) failures.push(`${lostIds.length} accepted order(s) never had their email sent: ${lostIds.slice(0, 20).join(', ')}`);
    for (const e of unexpectedExits) failures.push(`${e.role} (pid ${e.pid}) exited on its own at t = ${fmt(e.atS)} s: ${JSON.stringify({ code: e.code, signal: e.signal })}`);
    rss.untrack(redis.pid);
    rss.stop();
    const logLines: SoakResult['logLines'] = {};
    for (const p of processes) logLines[p.role] = countLogLines(p.output());

    result = {
      startedAt: startedAt.toISOString(),
      nestMajor: opts.nestMajor,
      node: process.version,
      cpus: os.cpus().length,
      persistence: REDIS_PERSISTENCE,
      rate: opts.rate,
      emailMs: opts.emailMs,
      loadS,
      drainS,
      drainLimitS: opts.drainS,
      drainComplete,
      requests: load.requests,
      accepted: load.acceptedIds.length,
      refused: load.refused,
      failed: load.failed,
      httpErrors: load.httpErrors,
      lost: lostIds.length,
      lostIds: lostIds.slice(0, 20),
      duplicatedOrders: duplicated.length,
      extraDeliveries: duplicated.reduce((sum, [, n]) => sum + n - 1, 0),
      duplicatedIds: duplicated.map(([id]) => id).slice(0, 20),
      longestGapS: gap.ms / 1_000,
      longestGapAtS: gap.at === null ? null : (gap.at - t0) / 1_000,
      emailLatencyS: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? 0 },
      storedWithoutAnswer: { orders: unanswered.length, emailsSent: unanswered.filter((id) => state.sentAt.get(id)).length },
      faults: Object.fromEntries(FAULT_KINDS.map((k) => [k, faultLog.filter((f) => f.kind === k).length])) as Record<FaultKind, number>,
      faultLog,
      webExitCodes,
      finalExits,
      unexpectedExits,
      peakRss: [
        ...processes.map((p) => ({ role: p.role, mb: (rss.peaks().find((x) => x.role === p.role)?.peakKb ?? 0) / 1_024, incarnations: p.incarnations })),
        { role: 'redis-server', mb: (rss.peaks().find((x) => x.role === 'redis-server')?.peakKb ?? 0) / 1_024, incarnations: redis.exits.length + 1 },
        { role: 'soak (load generator)', mb: process.resourceUsage().maxRSS / 1_024, incarnations: 1 },
      ],
      logLines,
      failures,
    };
  } finally {
    finalStop = true;
    await Promise.all(processes.filter((p) => p.running).map((p) => p.kill().catch(() => undefined)));
    await redis.stop().catch(() => undefined);
    for (const p of processes) p.writeLog(logsDir);
    fs.writeFileSync(path.join(logsDir, 'redis-server.log'), redis.output());
  }

  if (!result) throw new Error('soak: no result');
  process.stdout.write(`\n${summaryTables(result)}\n\n`);
  const ok = result.failures.length === 0;
  if (opts.write) {
    const file = path.join(repoRoot, 'BENCHMARKS.md');
    const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
    fs.writeFileSync(file, withReliabilitySection(before, section(result)));
    say('BENCHMARKS.md: "## Reliability" written');
  }
  if (ok && !opts.keep) fs.rmSync(runDir, { recursive: true, force: true });
  else say(`logs and data kept in ${runDir}`);
  for (const failure of result.failures) process.stdout.write(`FAILED: ${failure}\n`);
  process.stdout.write(`${ok ? 'PASSED' : 'FAILED'}: lost ${result.lost}, duplicated ${result.duplicatedOrders}\n`);
  process.stdout.write(`SOAK_RESULT ${JSON.stringify(result)}\n`);
  process.exitCode = ok ? 0 : 1;
}

process.once('SIGINT', () => process.exit(130)); // the children are killed with this process (process-guard.ts)
process.once('SIGTERM', () => process.exit(143));
main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
