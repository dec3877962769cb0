/**
 * A real, throw-away PostgreSQL server for the PostgreSQL-backed tests (BullMQ's PostgreSQL
 * backend, the exclusive gate, the outbox): Debian's `postgresql` binaries, `initdb` into a temp
 * directory, then the server on a free 127.0.0.1 port (and a unix socket in the same directory).
 *
 *   const pg = await startPostgresServer();
 *   const url = await pg.createDatabase('orders');   // postgres://postgres@127.0.0.1:<port>/orders
 *   ...
 *   await pg.stop();     // a clean shutdown (an outage), data kept ...
 *   await pg.start();    // ... and back on the SAME port with the same data
 *   await pg.kill();     // SIGKILL (a crash), data kept; start() recovers it
 *   await pg.destroy();  // always in afterAll: stop it and remove its directory
 *
 * The server is started directly (not daemonized through `pg_ctl`) so that it dies with the jest
 * worker that started it (process-guard.ts). It is made for tests: trust authentication on
 * loopback, `fsync` and `synchronous_commit` off. PostgreSQL refuses to run as root: as root
 * (CI), the data directory belongs to the `postgres` user that Debian's package creates and the
 * server runs as that user. Without the binaries this throws (it does not skip): install them
 * with `apt-get install -y postgresql` (.ci/run does that).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { getFreePort } from './free-port.js';
import { killOnExit, killWithParent } from './process-guard.js';

export const POSTGRES_MISSING_MESSAGE =
  'PostgreSQL server binaries (initdb, postgres) not found: install them (apt-get install -y postgresql) — PostgreSQL-backed tests cannot run without them';

export interface PostgresServerOptions {
  /** How long to wait for the server to accept connections; default 30 s. */
  startTimeoutMs?: number;
  /** Extra settings, e.g. `{ max_connections: '50' }` (`-c name=value`). */
  settings?: Record<string, string>;
  /**
   * A directory to keep the server in across runs (`npm run sample -- --postgres`): initdb only when
   * it holds no cluster yet, and destroy() stops the server but leaves the directory. Default: a
   * fresh temp directory, removed by destroy().
   */
  dir?: string;
  /** Port to listen on; default: a free port. */
  port?: number;
}

export interface PostgresServerHandle {
  readonly host: string;
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  /** The server's directory (data in `data/`, its socket in `socket/`). */
  readonly dir: string;
  /** True between a successful start() and stop()/kill(). */
  readonly running: boolean;
  /** The server's (postmaster's) process id while running. */
  readonly pid: number | undefined;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` */
  urlFor(database: string): string;
  /** Creates a database (a fresh one per test file keeps files apart) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs SQL through `psql` on the server (for tests that look or meddle, without a `pg` client). */
  psql(sql: string, database?: string): string;
  /** A clean, fast shutdown (SIGINT: open sessions are cut), data kept. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster (a crash), data kept; the next start() recovers. Idempotent. */
  kill(): Promise<void>;
  /** Start it again on the same port and data after stop()/kill(); waits until it accepts connections. */
  start(): Promise<void>;
  /** stop() and remove the directory (unless it was given as `dir`). */
  destroy(): Promise<void>;
  /** What the server printed so far. */
  output(): string;
}

/** Directory with Debian's PostgreSQL server binaries (POSTGRES_BIN_DIR, else the newest /usr/lib/postgresql/N/bin, else PATH). */
export function findPostgresBinDir(): string | undefined {
  const fromEnv = process.env.POSTGRES_BIN_DIR;
  if (fromEnv) return hasServer(fromEnv) ? fromEnv : undefined;
  const debian = '/usr/lib/postgresql';
  if (fs.existsSync(debian)) {
    const versions = fs
      .readdirSync(debian)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const dir = path.join(debian, version, 'bin');
      if (hasServer(dir)) return dir;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && hasServer(dir)) return dir;
  }
  return undefined;
}

function hasServer(dir: string): boolean {
  try {
    fs.accessSync(path.join(dir, 'initdb'), fs.constants.X_OK);
    fs.accessSync(path.join(dir, 'postgres'), fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The user the server runs as: `postgres` when this process is root, else this process's own. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      "running as root, and there is no 'postgres' user to run PostgreSQL as (Debian's postgresql package creates it: apt-get install -y postgresql)",
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Resolves true once `host:port` accepts a TCP connection and answers an SSL request (any answer: the postmaster is up). */
function answers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      // SSLRequest: length 8, code 80877103. The postmaster answers 'S' or 'N' once it accepts sessions.
      const request = Buffer.alloc(8);
      request.writeInt32BE(8, 0);
      request.writeInt32BE(80877103, 4);
      socket.write(request);
    });
    socket.once('data', () => done(true));
  });
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class PostgresServer implements PostgresServerHandle {
  readonly host = '127.0.0.1';
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly binDir: string,
    private readonly user: { uid: number; gid: number } | undefined,
    private readonly settings: Record<string, string>,
    private readonly startTimeoutMs: number,
    private readonly kept = false,
  ) {}

  get url(): string {
    return this.urlFor('postgres');
  }

  urlFor(database: string): string {
    return `postgres://postgres@${this.host}:${this.port}/${database}`;
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

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  private get socketDir(): string {
    return path.join(this.dir, 'socket');
  }

  /** initdb into `dir/data`, unless a cluster is there already. */
  init(): void {
    if (this.user) this.letServerUserIn();
    if (fs.existsSync(path.join(this.dataDir, 'PG_VERSION'))) return;
    for (const sub of ['', 'data', 'socket']) {
      const dir = path.join(this.dir, sub);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (this.user) fs.chownSync(dir, this.user.uid, this.user.gid);
    }
    const result = spawnSync(
      path.join(this.binDir, 'initdb'),
      ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'],
      { encoding: 'utf8', ...(this.user ?? {}) },
    );
    if (result.status !== 0) {
      throw new Error(`initdb failed (exit ${result.status}): ${result.error?.message ?? ''}\n${result.stdout}\n${result.stderr}`);
    }
  }

  /**
   * As root, the server runs as the postgres user, which must be able to walk down to its directory:
   * a parent that others may not enter (a `mkdtemp` directory is 0700) gets the "search" bit for
   * others (o+x: enter, not list or read).
   */
  private letServerUserIn(): void {
    for (let dir = path.dirname(this.dir); ; dir = path.dirname(dir)) {
      const stat = fs.statSync(dir);
      if ((stat.mode & 0o001) === 0) fs.chmodSync(dir, (stat.mode & 0o7777) | 0o001);
      if (path.dirname(dir) === dir) break;
    }
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const settings: Record<string, string> = {
      listen_addresses: this.host,
      port: String(this.port),
      unix_socket_directories: this.socketDir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: '200',
      shared_buffers: '32MB',
      logging_collector: 'off',
      ...this.settings,
    };
    const args = ['-D', this.dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const [command, wrapped] = killWithParent(path.join(this.binDir, 'postgres'), args);
    const proc = spawn(command, wrapped, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'], ...(this.user ?? {}) });
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
      if (spawnError) throw new Error(`could not start postgres: ${spawnError.message}`);
      if (exitInfo !== undefined) throw new Error(`postgres on port ${this.port} exited during start-up (${exitInfo}):\n${this.log}`);
      // Accepting sessions, not only connections: after a crash the postmaster answers while it recovers.
      if ((await answers(this.host, this.port)) && this.ready()) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`postgres on port ${this.port} did not accept sessions within ${this.startTimeoutMs} ms:\n${this.log}`);
      }
      await delay(50);
    }
  }

  private ready(): boolean {
    const result = spawnSync(path.join(this.binDir, 'pg_isready'), ['-h', this.host, '-p', String(this.port), '-U', 'postgres', '-t', '2'], {
      encoding: 'utf8',
    });
    return result.status === 0;
  }

  psql(sql: string, database = 'postgres'): string {
    const result = spawnSync(
      path.join(this.binDir, 'psql'),
      ['-h', this.host, '-p', String(this.port), '-U', 'postgres', '-d', database, '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) throw new Error(`psql failed (exit ${result.status}) on ${JSON.stringify(sql)}: ${result.stderr}`);
    return result.stdout.trim();
  }

  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`createDatabase: ${JSON.stringify(name)} is not a plain lower-case name`);
    this.psql(`CREATE DATABASE ${name}`);
    return this.urlFor(name);
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill(signal);
    const killTimer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    try {
      await this.exited;
    } finally {
      clearTimeout(killTimer);
    }
    this.proc = undefined;
  }

  stop(): Promise<void> {
    return this.signal('SIGINT'); // "fast" shutdown
  }

  async kill(): Promise<void> {
    await this.signal('SIGKILL');
    // The postmaster's children notice it died and exit on their own; wait until the port is free.
    for (let i = 0; i < 100 && (await answers(this.host, this.port, 200)); i++) await delay(50);
  }

  async destroy(): Promise<void> {
    await this.stop();
    if (!this.kept) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** initdb and start a real PostgreSQL on a free 127.0.0.1 port; resolves once it accepts sessions. */
export async function startPostgresServer(opts: PostgresServerOptions = {}): Promise<PostgresServerHandle> {
  const binDir = findPostgresBinDir();
  if (!binDir) throw new Error(POSTGRES_MISSING_MESSAGE);
  const user = serverUser();
  let lastError: unknown;
  for (let attempt = 0; attempt < (opts.port === undefined ? 3 : 1); attempt++) {
    const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-pg-'));
    const port = opts.port ?? (await getFreePort());
    const server = new PostgresServer(port, path.resolve(dir), binDir, user, opts.settings ?? {}, opts.startTimeoutMs ?? 30_000, opts.dir !== undefined);
    try {
      server.init();
      await server.start();
      return server;
    } catch (err) {
      lastError = err; // most likely the free port was taken in between: try another one
      await server.destroy().catch(() => undefined);
    }
  }
  throw lastError;
}
