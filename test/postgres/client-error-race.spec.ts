/**
 * A connection PostgreSQL ends in the same network read that completed its start-up (a server
 * shutting down: 57P01 right after ReadyForQuery). The client emits 'error' while pg-pool hands it
 * out, before the caller's code can add a listener; without one of the library's own, that was an
 * uncaught exception (a fresh-clone CI run failed on it when a test stopped PostgreSQL under an app).
 *
 * Real PostgreSQL cannot be made to put the two messages in one read on demand, so the server here
 * is a small TCP listener on 127.0.0.1 that speaks the start of the wire protocol: it accepts the
 * start-up, says AuthenticationOk and ReadyForQuery, and the FATAL 57P01, in one write.
 */
import { jest } from '@jest/globals';
import { Injectable, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { HostingModule, Periodic, QueueWorker, defineQueue, type HostingOptions } from '../../src/index.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { waitFor } from '../support/hosting-app.js';

jest.setTimeout(60_000);

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

const AUTHENTICATION_OK = message('R', Buffer.from([0, 0, 0, 0]));
const READY_FOR_QUERY = message('Z', Buffer.from('I', 'latin1'));
const TERMINATING = message(
  'E',
  Buffer.from(['SFATAL', 'VFATAL', 'C57P01', 'Mterminating connection due to administrator command'].map((f) => `${f}\0`).join('') + '\0', 'latin1'),
);

/** Ends every connection as a server shutting down does, right after the start-up completes. */
async function startDyingServer(): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', () => socket.end(Buffer.concat([AUTHENTICATION_OK, READY_FOR_QUERY, TERMINATING])));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `postgres://app@127.0.0.1:${port}/app`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

let server: Awaited<ReturnType<typeof startDyingServer>>;
beforeEach(async () => {
  server = await startDyingServer();
});
afterEach(async () => {
  await server.close();
});

let counter = 0;

/** Starts an app with `providers`, lets it meet the server `times` times, and closes it. Start-up may fail; nothing may throw uncaught. */
async function meetTheServer(hosting: HostingOptions, providers: Type[], times: number, imports: never[] = []): Promise<void> {
  const moduleRef = await Test.createTestingModule({ imports: [HostingModule.forRoot({ shutdownTimeoutMs: 5_000, ...hosting }), ...imports], providers })
    .setLogger(new CaptureLogger())
    .compile();
  const started = moduleRef.init().then(
    () => undefined,
    (error: unknown) => error,
  );
  try {
    await waitFor(() => server.connections() >= times, 30_000, `${times} connections to the server`);
    await started;
  } finally {
    await moduleRef.close().catch(() => undefined);
  }
}

describe('a PostgreSQL connection that ends as its start-up completes', () => {
  it('is no uncaught exception for the exclusive-task gate (its own pool, and the app’s)', async () => {
    @Injectable()
    class Ledger {
      @Periodic({ every: 60_000, exclusive: true, name: `ledger-${++counter}` } as never)
      close() {}
    }
    await meetTheServer({ postgres: server.url }, [Ledger], 3);
    const appPool = new pg.Pool({ connectionString: server.url, max: 2 });
    appPool.on('error', () => undefined);
    try {
      await meetTheServer({ postgres: appPool as never }, [Ledger], 6);
    } finally {
      await appPool.end();
    }
  });

  it('is no uncaught exception for a BullMQ queue on PostgreSQL', async () => {
    const queue = defineQueue<{ to: string }>(`race-${++counter}`);
    @Injectable()
    class Mailer {
      @QueueWorker(queue)
      send() {}
    }
    await meetTheServer({ postgres: server.url }, [Mailer], 2, [HostingModule.registerQueue(queue, { backend: 'bullmq' }) as never]);
  });

  it('is no uncaught exception for the transactional outbox on PostgreSQL', async () => {
    await meetTheServer({ outbox: { postgres: server.url } } as HostingOptions, [], 1);
  });
});
