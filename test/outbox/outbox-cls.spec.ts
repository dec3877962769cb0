/**
 * The outbox with `@nestjs-cls/transactional`: `enqueue(item, { transaction: 'ambient' })` in a
 * `@Transactional()` method writes with the method's transaction (committed: relayed; rolled back:
 * never), and so does passing the `TransactionHost`; outside a transaction it throws. Run as a child
 * process (test/fixtures/outbox-cls-app.ts) on both Nest majors: nestjs-cls requires Nest through
 * CommonJS, which jest's ESM run (Nest 12) cannot give it, while a real Node process can.
 */
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { fixture } from '../support/paths.js';
import { startPostgresServer, type PostgresServerHandle } from '../support/postgres-server.js';
import { tempSqliteFile, waitFor } from './outbox-test-app.js';

describe('transactional outbox with @nestjs-cls/transactional', () => {
  let postgres: PostgresServerHandle;
  const children: ChildApp[] = [];
  beforeAll(async () => {
    postgres = await startPostgresServer();
  }, 60_000);
  afterAll(async () => {
    await postgres?.destroy();
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((child) => child.dispose()));
  });

  it.each([
    ['SQLite', async () => ({ STORE: 'sqlite', SQLITE_FILE: tempSqliteFile() })],
    ['PostgreSQL', async () => ({ STORE: 'postgres', PG_URL: await postgres.createDatabase('outbox_cls') })],
  ])("on %s: 'ambient' writes with @Transactional()'s transaction; rolled back, nothing is relayed", async (_store, envOf) => {
    const child = spawnChildApp(fixture('outbox-cls-app.ts'), { env: { NO_COLOR: '1', ...(await envOf()) } });
    children.push(child);
    await child.waitForOutput(/^DONE$/m, 60_000);
    expect(child.output()).toContain(
      "OUTSIDE WorkQueue.enqueue on queue \"emails\": option \"transaction\" is 'ambient' (or a TransactionHost), but no transaction is active: call enqueue inside a @Transactional() method or txHost.withTransaction(…)",
    );
    // Rows relay in id order to a FIFO queue: order 2's email, had its row survived the rollback, would come before 3's.
    await waitFor(() => /HANDLED 1\b/.test(child.output()) && /HANDLED 3\b/.test(child.output()), 30_000, 'the committed orders');
    child.kill('SIGTERM');
    await child.exited;
    expect([...child.output().matchAll(/HANDLED (\d+)/g)].map((m) => Number(m[1])).sort()).toEqual([1, 3]);
    expect(child.output()).not.toMatch(/FAILED|UNHANDLED/);
  }, 120_000);
});
