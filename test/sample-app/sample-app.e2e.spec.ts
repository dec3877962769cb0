import { type ChildApp } from '../support/child-app.js';
import {
  eventually,
  openShopDb,
  order,
  ordersWithoutSentEmail,
  startMain,
  tempDataDir,
  type RunningSample,
} from './sample-process.js';

/** Real processes on a busy 2-core machine. */
const E2E_TIMEOUT_MS = 180_000;

describe('sample app (main.ts as a real process)', () => {
  const children: ChildApp[] = [];
  const start = async (dataDir: string, env: Record<string, string> = {}): Promise<RunningSample> => {
    const sample = await startMain(dataDir, env);
    children.push(sample.child);
    return sample;
  };
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.dispose()));
  }, E2E_TIMEOUT_MS);

  it('takes orders over HTTP at once and sends their confirmation emails in the background', async () => {
    const sample = await start(tempDataDir(), { EMAIL_SEND_MS: '200' });
    const placed = [];
    for (let n = 1; n <= 5; n++) {
      const { status, body } = await sample.post('/orders', order(n));
      expect({ status, body }).toMatchObject({ status: 202 }); // on failure, shows the error body too
      expect(body.email).toMatchObject({ status: 'pending', sentAt: null });
      placed.push(body.id as number);
    }
    expect((await sample.post('/orders', { customerEmail: 'x@example.com', items: [{ sku: 'NOPE', quantity: 1 }] })).status).toBe(400);

    for (const id of placed) {
      await eventually(async () => (await sample.get(`/orders/${id}`)).body.email.status === 'sent', 30_000, `the email of order #${id}`);
    }
    const { body: first } = await sample.get(`/orders/${placed[0]}`);
    expect(first).toMatchObject({ customerEmail: 'customer1@example.com', totalCents: 2 * 1290 + 1850, email: { subject: `Your order #${placed[0]} is confirmed` } });
    expect((await sample.get('/orders/999999')).status).toBe(404);

    const health = await sample.get('/health');
    expect(health.status).toBe(200);
    expect(health.body.details.hosting).toEqual({ status: 'up', services: 6 });
    expect((await sample.get('/health/ready')).body.details.lifetime.status).toBe('up');

    const { body: status } = await sample.get('/hosting/status.json');
    const byName = Object.fromEntries(status.services.map((s: { name: string }) => [s.name, s]));
    expect(byName.emails).toMatchObject({ kind: 'queue', processed: 5, depth: 0 });
    expect(byName['catalog.sync']).toMatchObject({ kind: 'background', state: 'running' });
    expect(byName['outbox.relay']).toMatchObject({ kind: 'background', state: 'running', runs: 5, outbox: { store: 'sqlite', leader: true, relayed: 5 } });
    expect(byName['reports.daily']).toMatchObject({ kind: 'periodic', schedule: 'cron 0 0 6 * * * (UTC)' });
    const page = await sample.get('/hosting');
    expect(page.status).toBe(200);
    expect(page.body).toContain('Sample shop');
  }, E2E_TIMEOUT_MS);

  it('purges old orders in a periodic unit of work, keeping recent ones and unsent emails', async () => {
    const dataDir = tempDataDir();
    const sample = await start(dataDir, { CLEANUP_EVERY_MS: '500', RETENTION_DAYS: '30' });
    const recent = (await sample.post('/orders', order(1))).body.id as number;
    await eventually(async () => (await sample.get(`/orders/${recent}`)).body.email.status === 'sent', 30_000, 'the recent email');

    // Backdate rows from outside, as a long-running shop would have them.
    const db = openShopDb(dataDir);
    const old = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const insert = (sent: boolean) => {
      const id = Number(db.prepare(`INSERT INTO orders (customer_email, items, total_cents, created_at) VALUES ('old@example.com', '[]', 100, ?)`).run(old).lastInsertRowid);
      db.prepare(`INSERT INTO emails (order_id, recipient, subject, queued_at, sent_at) VALUES (?, 'old@example.com', 'old', ?, ?)`).run(id, old, sent ? old : null);
      return id;
    };
    // Every row in one transaction: the purge (every 500 ms) sees all of them or none (an order caught
    // without its email would be taken; a purge between two inserts would take the old orders in two runs).
    const { oldSent, oldPending } = db.transaction(() => ({ oldSent: [insert(true), insert(true)], oldPending: insert(false) }))();
    db.close();

    await eventually(async () => (await sample.get(`/orders/${oldSent[1]}`)).status === 404, 30_000, 'the cleanup');
    expect((await sample.get(`/orders/${oldSent[0]}`)).status).toBe(404);
    expect((await sample.get(`/orders/${recent}`)).status).toBe(200);
    expect((await sample.get(`/orders/${oldPending}`)).status).toBe(200); // its email has not gone out yet
    await sample.child.waitForOutput(/Purged 2 order\(s\) and 2 email\(s\) older than 30 days/);
    const { body: status } = await sample.get('/hosting/status.json');
    const cleanup = status.services.find((s: { name: string }) => s.name === 'orders.cleanup');
    expect(cleanup.runs).toBeGreaterThanOrEqual(1);
    expect(cleanup.failures).toBe(0);
  }, E2E_TIMEOUT_MS);

  it('on SIGTERM mid-work, finishes the emails in flight and exits 0; a restart leaves no order without its email', async () => {
    const dataDir = tempDataDir();
    // A short deadline, so that some queued emails are left when the process exits.
    const env = { EMAIL_SEND_MS: '300', SHUTDOWN_TIMEOUT_MS: '1500' };
    const first = await start(dataDir, env);
    const ids: number[] = [];
    for (let n = 1; n <= 20; n++) ids.push((await first.post('/orders', order(n))).body.id);
    await first.child.waitForOutput(/Sent confirmation of order #\d+/, 30_000);

    const atSignal = first.child.output();
    first.child.kill('SIGTERM');
    expect(await first.child.exited).toEqual({ code: 0, signal: null });

    // Every email being sent when SIGTERM arrived was finished, not cut off.
    const sending = [...atSignal.matchAll(/Sending "Your order #(\d+) is confirmed"/g)].map((m) => m[1]);
    const sentBefore = new Set([...atSignal.matchAll(/Sent confirmation of order #(\d+)/g)].map((m) => m[1]));
    const inFlight = sending.filter((id) => !sentBefore.has(id));
    expect(inFlight.length).toBeGreaterThan(0);
    for (const id of inFlight) expect(first.child.output()).toContain(`Sent confirmation of order #${id}`);

    // Whatever the deadline left is still pending in the database, and the next start sends it.
    const leftPending = ordersWithoutSentEmail(dataDir);
    const second = await start(dataDir, { EMAIL_SEND_MS: '50' });
    if (leftPending.length) await second.child.waitForOutput(`Queued ${leftPending.length} pending confirmation email(s) again`, 30_000);
    await eventually(() => ordersWithoutSentEmail(dataDir).length === 0, 60_000, 'every email sent after the restart');
    for (const id of ids) expect((await second.get(`/orders/${id}`)).body.email.status).toBe('sent');

    second.child.kill('SIGTERM');
    expect(await second.child.exited).toEqual({ code: 0, signal: null });
  }, E2E_TIMEOUT_MS);
});
