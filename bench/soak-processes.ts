/**
 * The processes of the soak (bench/soak.ts): a persistent redis-server that can be restarted on
 * its port with its data, the sample's entries as real Node processes, and an RSS sampler.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawnChildApp, type ChildApp, type ChildExit } from '../test/support/child-app.js';
import { findRedisServer, REDIS_MISSING_MESSAGE } from '../test/support/redis-server.js';
import { killOnExit, killWithParent } from '../test/support/process-guard.js';

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Peak resident memory per role, sampled from /proc/<pid>/status (VmHWM: the process's own high-water mark). */
export class RssSampler {
  private readonly live = new Map<number, string>();
  private readonly peakKb = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 500) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  /** Starts sampling `pid` under `role` (several incarnations of a role share one peak). */
  track(role: string, pid: number | undefined): void {
    if (pid === undefined) return;
    this.live.set(pid, role);
    this.peakKb.set(role, this.peakKb.get(role) ?? 0);
    this.sampleOne(pid, role);
  }

  /** Takes a last sample of `pid` (while it still runs) and stops sampling it. */
  untrack(pid: number | undefined): void {
    if (pid === undefined) return;
    const role = this.live.get(pid);
    if (role) this.sampleOne(pid, role);
    this.live.delete(pid);
  }

  /** Peak RSS in kB per role, in the order the roles were first tracked. */
  peaks(): Array<{ role: string; peakKb: number }> {
    return [...this.peakKb].map(([role, peakKb]) => ({ role, peakKb }));
  }

  stop(): void {
    this.sample();
    clearInterval(this.timer);
  }

  private sample(): void {
    for (const [pid, role] of this.live) this.sampleOne(pid, role);
  }

  private sampleOne(pid: number, role: string): void {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return; // exited, or not Linux
    }
    const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0);
    const peak = Math.max(kb('VmHWM'), kb('VmRSS'));
    if (peak > (this.peakKb.get(role) ?? 0)) this.peakKb.set(role, peak);
  }
}

/** One RESP command on a short-lived socket; resolves with the raw reply line(s). */
export function redisCommand(port: number, args: string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0]}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(buffer);
    };
    socket.once('error', (error) => done(error));
    socket.once('connect', () => socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      if (buffer.endsWith('\r\n')) done();
    });
  });
}

/** The number of keys, or undefined when Redis does not answer. */
export async function redisKeyCount(port: number): Promise<number | undefined> {
  const reply = await redisCommand(port, ['DBSIZE']).catch(() => '');
  return reply.startsWith(':') ? Number(reply.slice(1)) : undefined;
}

/** The Redis persistence the soak runs with: every write in the append-only file, fsynced before it is acknowledged. */
export const REDIS_PERSISTENCE_ARGS = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
export const REDIS_PERSISTENCE = 'append-only file with appendfsync always, no RDB snapshots; each restart is graceful: SIGTERM, Redis writes out its data and exits 0, then it starts again on the same port and dir';

/** A redis-server on a fixed 127.0.0.1 port that keeps its data dir across stop() and start(). */
export class PersistentRedis {
  private proc?: ChildProcess;
  private exited: Promise<ChildExit> = Promise.resolve({ code: null, signal: null });
  private log = '';
  readonly exits: ChildExit[] = [];

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly rss: RssSampler,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  output(): string {
    return this.log;
  }

  /** Starts the server and resolves once it answers PING (after loading its append-only file). */
  async start(timeoutMs = 60_000): Promise<void> {
    const binary = findRedisServer();
    if (!binary) throw new Error(REDIS_MISSING_MESSAGE);
    fs.mkdirSync(this.dir, { recursive: true });
    const [command, args] = killWithParent(binary, [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--dir', this.dir,
      '--logfile', '',
      ...REDIS_PERSISTENCE_ARGS,
    ]);
    const proc = spawn(command, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(proc);
    this.proc = proc;
    this.log += `\n=== redis-server pid ${proc.pid} started ${new Date().toISOString()} ===\n`;
    proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    let exitInfo: ChildExit | undefined;
    this.exited = new Promise((resolve) => {
      proc.once('error', (error) => {
        this.log += `spawn error: ${error.message}\n`;
        resolve((exitInfo = { code: null, signal: null }));
      });
      proc.once('exit', (code, signal) => resolve((exitInfo = { code, signal })));
    });
    this.rss.track('redis-server', proc.pid);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exitInfo) throw new Error(`redis-server on port ${this.port} exited during start-up (${JSON.stringify(exitInfo)}):\n${this.log.slice(-3_000)}`);
      const reply = await redisCommand(this.port, ['PING'], 1_000).catch(() => '');
      if (reply.startsWith('+PONG')) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer PING within ${timeoutMs} ms:\n${this.log.slice(-3_000)}`);
      await delay(50);
    }
  }

  /** Graceful stop: SIGTERM (Redis writes out its append-only file and exits 0); SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 30_000): Promise<ChildExit> {
    const proc = this.proc;
    if (!proc) return { code: null, signal: null };
    this.rss.untrack(proc.pid);
    proc.kill('SIGTERM');
    const killTimer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    const exit = await this.exited;
    clearTimeout(killTimer);
    this.proc = undefined;
    this.exits.push(exit);
    return exit;
  }
}

export interface NodeExit extends ChildExit {
  role: string;
  pid: number | undefined;
  /** What the soak did to it: 'SIGKILL', 'SIGTERM', or 'none' when it exited on its own. */
  cause: 'SIGKILL' | 'SIGTERM' | 'none';
  /** Seconds since the soak's clock started. */
  atS: number;
}

/** One of the sample's entries (main.ts or worker.ts) as a real process, restartable; every incarnation's output is kept. */
export class SampleProcess {
  private child?: ChildApp;
  private expected?: 'SIGKILL' | 'SIGTERM';
  private logs: string[] = [];
  incarnations = 0;
  readonly exits: NodeExit[] = [];

  constructor(
    readonly role: string,
    private readonly entry: string,
    private readonly readyLine: RegExp | string,
    private readonly env: Record<string, string>,
    private readonly rss: RssSampler,
    private readonly clock: () => number,
    /** Called when the process exits without the soak asking it to. */
    private readonly onUnexpectedExit: (exit: NodeExit) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.proc.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Spawns it (same Nest as the run: test/support/child-app.ts) and resolves once its ready line appears. */
  async start(timeoutMs = 120_000): Promise<void> {
    const child = spawnChildApp(this.entry, { env: this.env });
    this.child = child;
    this.expected = undefined;
    this.incarnations++;
    const incarnation = this.incarnations;
    this.rss.track(this.role, child.proc.pid);
    void child.exited.then((info) => {
      this.logs.push(`=== ${this.role} #${incarnation} pid ${child.proc.pid}: exit ${JSON.stringify(info)} ===\n${child.output()}`);
      if (this.child !== child) return;
      this.child = undefined;
      const exit: NodeExit = { ...info, role: this.role, pid: child.proc.pid, cause: this.expected ?? 'none', atS: this.clock() };
      this.exits.push(exit);
      if (!this.expected) this.onUnexpectedExit(exit);
    });
    await child.waitForOutput(this.readyLine, timeoutMs);
  }

  /** SIGKILL (a crash): resolves once it is gone. */
  async kill(): Promise<NodeExit> {
    return this.stopWith('SIGKILL');
  }

  /** SIGTERM (a graceful stop); SIGKILL after `timeoutMs` if it has not exited by then. */
  async terminate(timeoutMs = 60_000): Promise<NodeExit> {
    return this.stopWith('SIGTERM', timeoutMs);
  }

  /** Everything every incarnation printed, those still running included. */
  output(): string {
    const running = this.child ? [`=== ${this.role} #${this.incarnations} pid ${this.child.proc.pid}: still running ===\n${this.child.output()}`] : [];
    return [...this.logs, ...running].join('\n');
  }

  writeLog(dir: string): void {
    fs.writeFileSync(path.join(dir, `${this.role}.log`), this.output());
  }

  private async stopWith(signal: 'SIGKILL' | 'SIGTERM', timeoutMs = 60_000): Promise<NodeExit> {
    const child = this.child;
    if (!child) throw new Error(`${this.role} is not running`);
    this.expected = signal;
    this.rss.untrack(child.proc.pid);
    child.kill(signal);
    const killTimer = signal === 'SIGTERM' ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    await child.exited;
    clearTimeout(killTimer);
    await delay(0); // the exit handler above records the exit first
    return this.exits.at(-1)!;
  }
}
