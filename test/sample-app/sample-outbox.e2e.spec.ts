/**
 * The sample shop on the transactional outbox (real processes, its SQLite file): `POST /orders`
 * commits the order and its confirmation email's job together (one row of nest_hosting_outbox per
 * order, none for an order that failed), and a web process that does not relay (OUTBOX_RELAY=off),
 * SIGKILLed after the commit and before any relay, loses no email: worker.ts relays and sends it.
 */
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { eventually, NO_TRACES, openShopDb, order, ordersWithoutSentEmail, START_TIMEOUT_MS, startMain, tempDataDir, WORKER } from './sample-process.js';

/** Real processes on a busy 2-core machine. */
const E2E_TIMEOUT_MS = 180_000;

interface OutboxRow {
  queue: string;
  item_id: string;
  payload: string;
  relayed_at: number | null;
}

/** The outbox table's rows, and the orders, as another connection sees them. */
function shop(dataDir: string): { outbox: OutboxRow[]; orders: number[] } {
  const db = openShopDb(dataDir);
  try {
    return {
      outbox: db.prepare('SELECT queue, item_id, payload, relayed_at FROM nest_hosting_outbox ORDER BY id').all() as OutboxRow[],
      orders: (db.prepare('SELECT id FROM orders ORDER BY id').all() as Array<{ id: number }>).map((r) => r.id),
    };
  } finally {
    db.close();
  }
}

describe('sample app: the order and its email commit together (transactional outbox)', () => {
  const children: ChildApp[] = [];
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.dispose()));
  }, E2E_TIMEOUT_MS);

  it('POST /orders writes the email job with the order; SIGKILL of a web process that does not relay, then worker.ts relays and sends it', async () => {
    const dataDir = tempDataDir();
    const web = await startMain(dataDir, { OUTBOX_RELAY: 'off', EMAIL_SEND_MS: '50' });
    children.push(web.child);

    const { status, body } = await web.post('/orders', order(1));
    expect({ status, body }).toMatchObject({ status: 202, body: { email: { status: 'pending' } } });
    const placed = body.id as number;
    expect(shop(dataDir)).toEqual({
      orders: [placed],
      outbox: [{ queue: 'emails', item_id: `order-${placed}`, payload: JSON.stringify({ orderId: placed }), relayed_at: null }],
    });
    // An order that fails writes neither the order nor its email.
    expect((await web.post('/orders', { customerEmail: 'x@example.com', items: [{ sku: 'NOPE', quantity: 1 }] })).status).toBe(400);
    expect(shop(dataDir).outbox).toHaveLength(1);
    const { body: hosting } = await web.get('/hosting/status.json');
    expect(hosting.services.find((s: { name: string }) => s.name === 'outbox.relay')).toMatchObject({ kind: 'background', state: 'disabled' });

    web.child.kill('SIGKILL'); // committed, never relayed
    expect(await web.child.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(ordersWithoutSentEmail(dataDir)).toEqual([placed]);

    const worker = spawnChildApp(WORKER, { env: { DATA_DIR: dataDir, EMAIL_SEND_MS: '50', METRICS_PORT: 'off', NO_COLOR: '1', ...NO_TRACES } });
    children.push(worker);
    await worker.waitForOutput('Worker running', START_TIMEOUT_MS);
    await worker.waitForOutput(`Sent confirmation of order #${placed}`, 30_000);
    await eventually(() => shop(dataDir).outbox.length === 0, 30_000, 'the outbox row to be relayed');
    expect(ordersWithoutSentEmail(dataDir)).toEqual([]);
    expect(worker.output()).not.toContain('went out twice');
    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, E2E_TIMEOUT_MS);
});
