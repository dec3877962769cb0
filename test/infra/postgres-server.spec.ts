/**
 * The PostgreSQL helper: initdb and a real server on a free loopback port, queries through `pg`,
 * a database per test file, a clean stop and a crash (SIGKILL), each followed by a restart on the
 * same port with the data kept (what the outage tests do).
 */
import pg from 'pg';
import { findPostgresBinDir, POSTGRES_MISSING_MESSAGE, startPostgresServer, type PostgresServerHandle } from '../support/postgres-server.js';

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('startPostgresServer', () => {
  let server: PostgresServerHandle | undefined;

  afterAll(async () => {
    await server?.destroy();
  });

  it('is installed (missing PostgreSQL binaries fail here, loudly, instead of skipping)', () => {
    if (!findPostgresBinDir()) throw new Error(POSTGRES_MISSING_MESSAGE);
  });

  it('starts on a free 127.0.0.1 port, serves a database of its own, and keeps its data across a stop and a crash', async () => {
    server = await startPostgresServer();
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
    expect(server.running).toBe(true);
    const url = await server.createDatabase('harness_check');
    await query(url, 'CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)');
    expect(await query(url, 'SELECT version() AS v')).toEqual([{ v: expect.stringMatching(/^PostgreSQL \d+/) }]);

    const port = server.port;
    await server.stop();
    expect(server.running).toBe(false);
    await expect(query(url, 'SELECT 1')).rejects.toThrow();
    await server.start();
    expect(server.port).toBe(port);
    expect(await query(url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);

    const pid = server.pid!;
    await server.kill();
    expect(() => process.kill(pid, 0)).toThrow();
    await server.start();
    expect(await query(url, 'SELECT n FROM kept')).toEqual([{ n: 42 }]);
    expect(server.psql('SELECT count(*) FROM kept', 'harness_check')).toBe('1');
  }, 120_000);
});
