/**
 * A real, throw-away `redis-server` for Redis-backed tests (bullmq, ioredis).
 *
 *   const redis = await startRedisServer();
 *   const client = new Redis(redis.port, redis.host);  // or { connection: { host, port } } for bullmq
 *   ...
 *   await redis.stop();   // kill it (simulate an outage) ...
 *   await redis.start();  // ... and bring it back on the SAME port
 *   await redis.stop();   // always stop it in afterAll
 *
 * Each server listens on a free 127.0.0.1 port, persists nothing (`--save '' --appendonly no`)
 * and has its own temp dir. If `redis-server` is not on PATH this throws (it does not skip):
 * install it with `apt-get install -y redis-server` (.ci/run does that).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { getFreePort } from './free-port.js';
import { killOnExit, killWithParent } from './process-guard.js';

export const REDIS_MISSING_MESSAGE =
  'redis-server not found on PATH: install it (apt-get install -y redis-server) — Redis-backed tests cannot run without it';

export interface RedisServerOptions {
  /** Port to listen on; default: a free port picked by binding port 0. */
  port?: number;
  /** How long to wait for the server to answer PING; default 15 s. */
  startTimeoutMs?: number;
  /** Extra `redis-server` arguments, e.g. ['--maxmemory', '10mb']. */
  args?: string[];
  /** Path of the redis-server binary; default: REDIS_SERVER_BIN or `redis-server` on PATH. */
  binary?: string;
}

export interface RedisServerHandle {
  readonly host: string;
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The server's own temp dir (its working dir). */
  readonly dir: string;
  /** True between a successful start() and stop(). */
  readonly running: boolean;
  /** The server's process id while running. */
  readonly pid: number | undefined;
  /** Stop the server (SIGTERM, then SIGKILL after 5 s), wait for it to exit, remove its dir. Idempotent. */
  stop(): Promise<void>;
  /** Start it again on the same port after stop(); waits until it answers PING. */
  start(): Promise<void>;
  /** What the server printed so far (its log goes to stdout). */
  output(): string;
}

/** Absolute path of redis-server (REDIS_SERVER_BIN, else PATH), or undefined. */
export function findRedisServer(): string | undefined {
  const fromEnv = process.env.REDIS_SERVER_BIN;
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'redis-server');
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Resolves true once `host:port` answers an inline PING with +PONG. */
function pingOnce(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let buffer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      if (buffer.includes('\r\n')) done(buffer.startsWith('+PONG'));
    });
  });
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class RedisServer implements RedisServerHandle {
  readonly host = '127.0.0.1';
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly binary: string,
    private readonly args: string[],
    private readonly startTimeoutMs: number,
  ) {}

  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  output(): string {
    return this.log;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    fs.mkdirSync(this.dir, { recursive: true });
    // A server still running when the jest worker exits or dies (a test that forgot stop(),
    // forceExit, a crash) is killed with it: see process-guard.ts.
    const [command, args] = killWithParent(this.binary, [
      '--port', String(this.port),
      '--bind', this.host,
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--dir', this.dir,
      '--logfile', '',
      ...this.args,
    ]);
    const proc = spawn(command, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(proc);
    this.proc = proc;
    let exitInfo: string | undefined;
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        exitInfo = `code ${code}, signal ${signal}`;
        if (this.proc === proc) this.proc = undefined;
        resolve();
      });
    });
    let spawnError: Error | undefined;
    proc.once('error', (err) => {
      spawnError = err;
    });
    proc.stdout?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));
    proc.stderr?.on('data', (d: Buffer) => (this.log += d.toString('utf8')));

    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      if (spawnError) throw new Error(`could not start ${this.binary}: ${spawnError.message}`);
      if (exitInfo !== undefined) {
        throw new Error(`redis-server on port ${this.port} exited during start-up (${exitInfo}):\n${this.log}`);
      }
      if (await pingOnce(this.host, this.port)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${this.startTimeoutMs} ms:\n${this.log}`);
      }
      await delay(25);
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      return;
    }
    proc.kill('SIGTERM');
    const killTimer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    try {
      await this.exited;
    } finally {
      clearTimeout(killTimer);
    }
    this.proc = undefined;
    // Nothing is persisted; start() recreates the dir.
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Spawn a real redis-server on a free 127.0.0.1 port and wait until it answers PING. */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const binary = opts.binary ?? findRedisServer();
  if (!binary) throw new Error(REDIS_MISSING_MESSAGE);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-redis-'));
  const attempts = opts.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = opts.port ?? (await getFreePort());
    const server = new RedisServer(port, dir, binary, opts.args ?? [], opts.startTimeoutMs ?? 15_000);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err; // most likely the free port was taken in between: try another one
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastError;
}
