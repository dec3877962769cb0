/**
 * `ConnectionOptions`: a URL, ioredis options or an ioredis instance, typed without needing ioredis
 * (structural). What the types refuse is what the start-up check refuses; what they accept, it
 * accepts (checked on the same values with the library's own check).
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { expectTypeOf } from 'expect-type';
import type { ConnectionOptions, HostingOptions, RedisConnectionOptions } from '../../src/index.js';
import { redisConnectionProblem } from '../../src/distributed/redis-connection.js';

describe('ConnectionOptions types', () => {
  it("accepts a URL, ioredis's RedisOptions, options with a url, an ioredis Redis or Cluster", async () => {
    const fromIoredis: RedisOptions = { host: '127.0.0.1', port: 6390, enableReadyCheck: false, maxRetriesPerRequest: null };
    const client = new Redis({ lazyConnect: true });
    const cluster = new Cluster([{ host: '127.0.0.1', port: 7000 }], { lazyConnect: true });
    try {
      const accepted: ConnectionOptions[] = [
        'redis://127.0.0.1:6379/1',
        'rediss://:secret@cache.example.com:6380',
        fromIoredis,
        { url: 'redis://127.0.0.1:6379', db: 2 },
        { path: '/run/redis.sock' },
        { host: 'cache', port: '6379', db: '0' }, // strings of digits, as configuration gives them
        { sentinels: [{ host: 'sentinel', port: 26379 }], name: 'mymaster' },
        client,
        cluster,
      ];
      for (const connection of accepted) expect(redisConnectionProblem(connection)).toBeUndefined();
      const hosting: HostingOptions = { redis: fromIoredis };
      expect(hosting.redis).toBe(fromIoredis);
      const fromEnvironment: HostingOptions = { redis: process.env.REDIS_URL_THAT_IS_NOT_SET }; // string | undefined
      expect(fromEnvironment.redis).toBeUndefined();
    } finally {
      client.disconnect();
      cluster.disconnect();
    }
  });

  it('refuses what is not a connection: a number, a non-string host, a port that is not a number', () => {
    // @ts-expect-error -- a number
    const port: ConnectionOptions = 6379;
    // @ts-expect-error -- host is a string
    const host: ConnectionOptions = { host: 127001 };
    // @ts-expect-error -- port is a number (or a string of digits)
    const namedPort: ConnectionOptions = { host: 'cache', port: 'redis' };
    // @ts-expect-error -- db is a number
    const db: ConnectionOptions = { db: true };
    for (const connection of [port, host, namedPort, db]) expect(redisConnectionProblem(connection)).toEqual(expect.any(String));
  });

  it('refuses an array or a function as options', () => {
    expectTypeOf<string[]>().not.toExtend<ConnectionOptions>();
    expectTypeOf<() => void>().not.toExtend<ConnectionOptions>();
    expectTypeOf<RedisConnectionOptions>().toExtend<ConnectionOptions>();
  });
});
