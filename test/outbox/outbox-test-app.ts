/**
 * A small app on the transactional outbox for the outbox specs: queues `emails` and `sms` (memory
 * unless told otherwise) whose workers record what they handle, and a producer that gives the
 * queues to the test. Real SQLite files in temp directories.
 */
import { Inject, Injectable, type DynamicModule } from '@nestjs/common';
import type { TestingModule } from '@nestjs/testing';
import BetterSqlite3 from 'better-sqlite3';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  OUTBOX_RELAY_NAME,
  QueueWorker,
  type HostingOptions,
  type JobContext,
  type OutboxRelayStatus,
  type QueueOptions,
  type WorkQueue,
} from '../../src/index.js';
import type { TimeProvider } from '../../src/index.js';
import type { CaptureLogger } from '../support/capture-logger.js';
import { startHostingApp, waitFor } from '../support/hosting-app.js';

export interface Handled {
  queue: string;
  item: any;
  id: string;
  attempt: number;
  headers: Readonly<Record<string, string>>;
  options: unknown;
}

/** What the workers handled, in order. */
export class Received {
  readonly handled: Handled[] = [];
  /** Handlers of `emails` wait for this while it is set (a test holds the queue busy). */
  gate?: Promise<void>;
  /** Items of `emails` the worker fails (throws) on. */
  failing = new Set<unknown>();

  items(queue = 'emails'): any[] {
    return this.handled.filter((h) => h.queue === queue).map((h) => h.item);
  }
}

export const RECEIVED = 'outbox-test:received';

@Injectable()
export class Producer {
  constructor(
    @InjectQueue('emails') readonly emails: WorkQueue<any>,
    @InjectQueue('sms') readonly sms: WorkQueue<any>,
  ) {}
}

@Injectable()
export class EmailsWorker {
  constructor(@Inject(RECEIVED) private readonly received: Received) {}

  @QueueWorker('emails')
  async handle(item: unknown, ctx: JobContext) {
    if (this.received.gate) await this.received.gate;
    if (this.received.failing.has(item)) throw new Error(`failing ${String(item)}`);
    this.received.handled.push({ queue: 'emails', item, id: ctx.id, attempt: ctx.attempt, headers: ctx.headers, options: ctx.itemOptions });
  }
}

@Injectable()
export class SmsWorker {
  constructor(@Inject(RECEIVED) private readonly received: Received) {}

  @QueueWorker('sms')
  handle(item: unknown, ctx: JobContext) {
    this.received.handled.push({ queue: 'sms', item, id: ctx.id, attempt: ctx.attempt, headers: ctx.headers, options: ctx.itemOptions });
  }
}

export interface OutboxAppOptions {
  hosting: HostingOptions;
  time?: TimeProvider;
  /** Options of the two queues (name excluded). */
  emails?: Omit<QueueOptions, 'name'>;
  sms?: Omit<QueueOptions, 'name'>;
  /** Leave out the workers (a process that only writes). */
  workers?: boolean;
  /** Leave out the `sms` queue (a relaying process that lacks it). */
  withoutSms?: boolean;
  imports?: DynamicModule[];
  providers?: any[];
}

export interface OutboxApp {
  app: TestingModule;
  logger: CaptureLogger;
  received: Received;
  emails: WorkQueue<any>;
  sms: WorkQueue<any>;
  registry: HostingRegistry;
  relay: () => OutboxRelayStatus;
}

@Injectable()
class EmailsOnlyProducer {
  constructor(@InjectQueue('emails') readonly emails: WorkQueue<any>) {}
}

/** Starts (inits) the app; close it with `app.close()`. */
export async function startOutboxApp(options: OutboxAppOptions): Promise<OutboxApp> {
  const received = new Received();
  const queues = [HostingModule.registerQueue({ name: 'emails', ...options.emails })];
  if (!options.withoutSms) queues.push(HostingModule.registerQueue({ name: 'sms', ...options.sms }));
  const workers = options.workers === false ? [] : options.withoutSms ? [EmailsWorker] : [EmailsWorker, SmsWorker];
  const { app, logger } = await startHostingApp({
    hosting: { shutdownTimeoutMs: 5_000, ...options.hosting },
    time: options.time,
    imports: [...queues, ...(options.imports ?? [])],
    providers: [{ provide: RECEIVED, useValue: received }, options.withoutSms ? EmailsOnlyProducer : Producer, ...workers, ...(options.providers ?? [])],
  });
  const producer = options.withoutSms ? app.get(EmailsOnlyProducer) : app.get(Producer);
  const registry = app.get(HostingRegistry);
  return {
    app,
    logger,
    received,
    emails: producer.emails,
    sms: (producer as Partial<Producer>).sms as WorkQueue<any>,
    registry,
    relay: () => registry.get(OUTBOX_RELAY_NAME) as OutboxRelayStatus,
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh SQLite file path in a temp directory (removed after the spec file). */
export function tempSqliteFile(name = 'app.sqlite'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-outbox-'));
  dirs.push(dir);
  return path.join(dir, name);
}

/** The app's own connection to its SQLite file, as an app opens it (WAL, busy_timeout, an orders table). */
export function openAppDb(file: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, note TEXT NOT NULL)');
  return db;
}

/** Rows of the outbox table (relayed or not). */
export function outboxRows(db: BetterSqlite3.Database, table = 'nest_hosting_outbox'): any[] {
  return db.prepare(`SELECT * FROM ${table} ORDER BY id`).all();
}

export { waitFor };
