import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { HostingModule } from '../../src/index.js';
import { Database } from '../../sample-app/database/database.js';
import { EMAILS_QUEUE } from '../../sample-app/orders/email-job.js';
import { OrdersRepository } from '../../sample-app/orders/orders.repository.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { fromRoot } from '../support/paths.js';
import { sleep, tempDataDir } from './sample-process.js';

/**
 * main.ts and worker.ts processes share one SQLite file. A transaction that reads before it
 * writes must take the write lock up front (BEGIN IMMEDIATE): a deferred one that another
 * process writes under fails at once with SQLITE_BUSY_SNAPSHOT, which busy_timeout does not cover.
 */
describe("the sample's OrdersRepository beside another writing process", () => {
  // Database logs where its file is through Nest's Logger; outside a Nest app nothing captures it.
  beforeAll(() => jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined));
  afterAll(() => jest.restoreAllMocks());
  let writer: ChildProcess | undefined;
  let db: Database | undefined;
  let app: TestingModule | undefined;
  afterEach(async () => {
    writer?.kill('SIGKILL');
    writer = undefined;
    await app?.close();
    app = undefined;
    db?.connection.close();
    db = undefined;
  });

  /** A process that marks emails sent (and touches the catalog) in a tight loop, as worker.ts does. */
  function startWriter(file: string): Promise<ChildProcess> {
    const script = `
      const Sqlite = require(${JSON.stringify(fromRoot('node_modules', 'better-sqlite3'))});
      const db = new Sqlite(${JSON.stringify(file)});
      db.pragma('busy_timeout = 5000');
      const touch = db.prepare("UPDATE catalog SET synced_at = ? WHERE sku = 'KTL-03'");
      const mark = db.prepare('UPDATE emails SET sent_at = ? WHERE order_id = (SELECT max(order_id) FROM emails)');
      process.stdout.write('writing\\n');
      for (;;) { const at = new Date().toISOString(); touch.run(at); mark.run(at); }
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`writer exited early with code ${code}`)));
      child.stdout!.once('data', () => resolve(child));
    });
  }

  it('places every order, its email job in the outbox with it, while another process writes to the same file', async () => {
    const file = path.join(tempDataDir(), 'shop.sqlite');
    db = new Database(file);
    // The repository as the sample builds it: its emails queue writes to the outbox in the order's transaction (nothing relays here).
    app = await Test.createTestingModule({
      imports: [HostingModule.forRoot({ outbox: { sqlite: db.connection, relay: false } }), HostingModule.registerQueue({ name: EMAILS_QUEUE })],
      providers: [{ provide: Database, useValue: db }, OrdersRepository],
    })
      .setLogger(new CaptureLogger())
      .compile();
    await app.init();
    const orders = app.get(OrdersRepository);
    writer = await startWriter(file);

    const failures: string[] = [];
    for (let n = 0; n < 400; n++) {
      try {
        const placed = orders.place(`customer${n}@example.com`, [{ sku: 'TEA-01', quantity: 1 }]);
        expect('orderId' in placed).toBe(true);
      } catch (error) {
        failures.push(`${(error as { code?: string }).code}: ${(error as Error).message}`);
      }
      if (n % 50 === 0) await sleep(1); // let the writer's output and exit events through
    }
    expect(failures).toEqual([]);
    expect(db.connection.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 400 });
    const jobs = db.connection.prepare("SELECT queue, payload FROM nest_hosting_outbox ORDER BY id").all() as Array<{ queue: string; payload: string }>;
    expect(jobs).toHaveLength(400);
    expect(jobs.every((job, n) => job.queue === EMAILS_QUEUE && JSON.parse(job.payload).orderId === n + 1)).toBe(true);
  });
});
