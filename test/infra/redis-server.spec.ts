/**
 * The redis-server helper: a real server on a free port, PING through ioredis, stop, and a
 * restart on the same port (what outage tests do).
 */
import { Redis } from 'ioredis';
import { spawnChildApp } from '../support/child-app.js';
import { isPortFree } from '../support/free-port.js';
import { fixture } from '../support/paths.js';
import { findRedisServer, REDIS_MISSING_MESSAGE, startRedisServer, type RedisServerHandle } from '../support/redis-server.js';

function client(server: RedisServerHandle): Redis {
  return new Redis(server.port, server.host, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startRedisServer', () => {
  let server: RedisServerHandle | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('is installed (a missing redis-server fails here, loudly, instead of skipping)', () => {
    if (!findRedisServer()) throw new Error(REDIS_MISSING_MESSAGE);
  });

  it('starts on a free 127.0.0.1 port, answers PING, stops, and restarts on the same port', async () => {
    server = await startRedisServer();
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(server.running).toBe(true);

    const first = client(server);
    await first.connect();
    expect(await first.ping()).toBe('PONG');
    await first.set('k', 'v');
    first.disconnect();

    const port = server.port;
    await server.stop();
    expect(server.running).toBe(false);
    expect(await isPortFree(port)).toBe(true);

    await server.start();
    expect(server.port).toBe(port);
    const second = client(server);
    await second.connect();
    expect(await second.ping()).toBe('PONG');
    expect(await second.get('k')).toBeNull(); // nothing persisted across the restart
    second.disconnect();
  });

  it('runs two servers side by side on different ports', async () => {
    server = await startRedisServer();
    const other = await startRedisServer();
    try {
      expect(other.port).not.toBe(server.port);
      const c = client(other);
      await c.connect();
      expect(await c.ping()).toBe('PONG');
      c.disconnect();
    } finally {
      await other.stop();
    }
  });

  it('a server never outlives the process that started it, even one killed with SIGKILL', async () => {
    const owner = spawnChildApp(fixture('child-redis-orphan.ts'));
    try {
      const [, port, pid] = await owner.waitForOutput(/REDIS (\d+) (\d+)/);
      expect(processExists(Number(pid))).toBe(true);
      owner.kill('SIGKILL'); // no exit handler runs: only the kernel's parent-death signal can help
      await owner.exited;
      const deadline = Date.now() + 5000;
      while (processExists(Number(pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(processExists(Number(pid))).toBe(false);
      expect(await isPortFree(Number(port))).toBe(true);
    } finally {
      await owner.dispose();
    }
  });

  it('throws the loud install message when the binary is missing', async () => {
    const saved = process.env.REDIS_SERVER_BIN;
    process.env.REDIS_SERVER_BIN = '/nonexistent/redis-server';
    try {
      await expect(startRedisServer()).rejects.toThrow(REDIS_MISSING_MESSAGE);
    } finally {
      if (saved === undefined) delete process.env.REDIS_SERVER_BIN;
      else process.env.REDIS_SERVER_BIN = saved;
    }
  });
});
