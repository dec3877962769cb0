/**
 * Redis connections and BullMQ backend options are checked at start-up, with the owner named:
 * a typo in a URL used to start fine and then spin (a worker) or log one error a second for ever.
 */
import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import { HostingModule, Periodic } from '../../src/index.js';
import { assertRedisConnection, maskPassword } from '../../src/distributed/redis-connection.js';
import { validateBullMqBackendOptions } from '../../src/queues/bullmq/bullmq-options.validation.js';
import { startHostingApp, type HostingApp } from '../support/hosting-app.js';

const FOR_ROOT = 'HostingModule.forRoot({ redis })';
const problem = (value: unknown): string => {
  try {
    assertRedisConnection(FOR_ROOT, value);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
  return 'accepted';
};

describe('assertRedisConnection', () => {
  it.each([
    ['redis://127.0.0.1:6379'],
    ['redis://127.0.0.1'],
    ['rediss://user:secret@redis.example.com:6380/2'],
    ['redis://[::1]:6379/0'],
    ['redis://127.0.0.1:6379?db=3'],
  ])('accepts the URL %s', (url) => {
    expect(problem(url)).toBe('accepted');
  });

  it.each([
    [{}],
    [{ host: '127.0.0.1', port: 6379 }],
    [{ host: 'redis', port: '6379', db: 2 }],
    [{ path: '/run/redis.sock' }],
    [{ url: 'redis://127.0.0.1:6379', connectionName: 'x' }],
    [{ host: '127.0.0.1', password: 'p', username: 'u', db: '0' }],
  ])('accepts the options %j', (options) => {
    expect(problem(options)).toBe('accepted');
  });

  it('accepts an ioredis instance as it is', () => {
    const client = new Redis({ lazyConnect: true });
    try {
      expect(problem(client)).toBe('accepted');
    } finally {
      client.disconnect();
    }
  });

  it.each([
    ['redis://127.0.0.1:notaport', /URL "redis:\/\/127\.0\.0\.1:notaport" has port "notaport", which is not a port number; give an integer from 1 to 65535/],
    ['redis://127.0.0.1:0', /has port "0"/],
    ['redis://127.0.0.1:70000', /has port "70000"/],
    ['redis://127.0.0.1:6379/abc', /selects database "abc", which is not a database number; give a non-negative integer/],
    ['redis://127.0.0.1:6379/-1', /selects database "-1"/],
    ['redis://127.0.0.1:6379?db=x', /selects database "x"/],
    ['http://127.0.0.1:6379', /must start with redis:\/\/ \(or rediss:\/\/ for TLS\)/],
    ['127.0.0.1:6379', /did you mean "redis:\/\/127\.0\.0\.1:6379"\?/],
    ['/run/redis.sock', /Unix socket path, not a URL; pass it as ioredis options: \{ path: "\/run\/redis\.sock" \}/],
    ['redis://', /has no host/],
    ['', /empty string/],
  ])('refuses the URL %j naming the owner and what is wrong', (url, expected) => {
    const message = problem(url);
    expect(message.startsWith(`${FOR_ROOT}: `)).toBe(true);
    expect(message).toMatch(expected);
  });

  it.each([
    [{ port: 'abc' }, /option "port" must be an integer from 1 to 65535 \(the default is 6379\), got string "abc"/],
    [{ port: 0 }, /option "port" must be an integer from 1 to 65535/],
    [{ port: 65536 }, /option "port"/],
    [{ port: 6379.5 }, /option "port"/],
    [{ host: 42 }, /option "host" must be a non-empty string/],
    [{ host: '' }, /option "host"/],
    [{ path: 7 }, /option "path" must be a non-empty string/],
    [{ db: -1 }, /option "db" must be a non-negative integer/],
    [{ db: 'x' }, /option "db"/],
    [{ url: 'redis://h:port' }, /has port "port"/],
    [{ sentinels: [] }, /option "sentinels" must be a non-empty array/],
    [{ keyPrefix: 'app:' }, /keyPrefix" is not supported: .* use a queue's backend\.prefix instead/],
    [null, /must be a redis:\/\/ or rediss:\/\/ URL, ioredis options \(\{ host, port, … \}\) or an ioredis instance, got null/],
    [42, /got number 42/],
    [['redis://h'], /got an array/],
  ])('refuses %j', (value, expected) => {
    const message = problem(value);
    expect(message.startsWith(`${FOR_ROOT}: `)).toBe(true);
    expect(message).toMatch(expected);
  });

  it('never shows a password', () => {
    expect(problem('redis://admin:s3cret@127.0.0.1:notaport')).not.toContain('s3cret');
    expect(problem('redis://admin:s3cret@127.0.0.1:notaport')).toContain('redis://admin:***@127.0.0.1:notaport');
    expect(problem({ host: 'h', password: 12345 })).not.toContain('12345');
    expect(maskPassword('redis://h:6379/0?password=s3cret&db=1')).toBe('redis://h:6379/0?password=***&db=1');
  });
});

describe('validateBullMqBackendOptions', () => {
  const fails = (backend: unknown) => {
    try {
      validateBullMqBackendOptions('emails', backend);
    } catch (error) {
      expect(error).toBeInstanceOf(TypeError);
      return (error as Error).message;
    }
    return 'accepted';
  };

  it('accepts the backend as a name, and every option in range', () => {
    expect(fails('bullmq')).toBe('accepted');
    expect(fails({ type: 'bullmq' })).toBe('accepted');
    expect(
      fails({ type: 'bullmq', connection: 'redis://127.0.0.1:6379', prefix: 'app', lockDurationMs: 30_000, stalledIntervalMs: 2 ** 31 - 1, enqueueTimeoutMs: 250.5 }),
    ).toBe('accepted');
  });

  it('refuses unknown keys with the closest known one', () => {
    const message = fails({ type: 'bullmq', lockDuration: 1000 });
    expect(message.startsWith('HostingModule.registerQueue("emails"): unknown option "backend.lockDuration"; did you mean "')).toBe(true);
    expect(message).toMatch(/did you mean "backend\.lockDurationMs"\?/);
    expect(message).toContain(
      '(known options: backend.type, backend.connection, backend.postgres, backend.prefix, backend.lockDurationMs, backend.stalledIntervalMs, backend.enqueueTimeoutMs, backend.telemetry, backend.removeOnComplete)',
    );
    expect(fails({ type: 'bullmq', enqueueTimeout: 1000 })).toMatch(/did you mean "backend\.enqueueTimeoutMs"\?/);
  });

  it.each([
    [{ type: 'bullmq', lockDurationMs: 2 ** 31 }, 'lockDurationMs', /an integer number of milliseconds from 1 to 2147483647 \(2\^31−1, Node's longest timer\), got 2147483648/],
    [{ type: 'bullmq', lockDurationMs: 1500.5 }, 'lockDurationMs', /got 1500\.5/],
    [{ type: 'bullmq', stalledIntervalMs: 0 }, 'stalledIntervalMs', /got 0/],
    [{ type: 'bullmq', stalledIntervalMs: Infinity }, 'stalledIntervalMs', /got Infinity/],
    [{ type: 'bullmq', enqueueTimeoutMs: 2 ** 31 }, 'enqueueTimeoutMs', /from 1 to 2147483647/],
    [{ type: 'bullmq', enqueueTimeoutMs: -1 }, 'enqueueTimeoutMs', /got -1/],
    [{ type: 'bullmq', enqueueTimeoutMs: '5000' }, 'enqueueTimeoutMs', /got "5000"/],
    [{ type: 'bullmq', prefix: '' }, 'prefix', /a non-empty string, got ""/],
  ])('refuses %j', (backend, option, expected) => {
    const message = fails(backend);
    expect(message.startsWith(`HostingModule.registerQueue("emails"): option "backend.${option}" must be `)).toBe(true);
    expect(message).toMatch(expected);
  });

  it("checks the queue's own connection, naming that option", () => {
    expect(fails({ type: 'bullmq', connection: 'redis://127.0.0.1:notaport' })).toMatch(
      /^HostingModule\.registerQueue\("emails"\): option "backend\.connection": the Redis URL "redis:\/\/127\.0\.0\.1:notaport" has port "notaport"/,
    );
    expect(fails({ type: 'bullmq', connection: { port: 'abc' } })).toMatch(/^HostingModule\.registerQueue\("emails"\): option "backend\.connection": the Redis option "port"/);
  });

  it('refuses a backend that is no options object', () => {
    expect(fails(['bullmq'])).toMatch(/option "backend" must be an object/);
  });
});

describe('an app with an invalid Redis URL', () => {
  let started: HostingApp | undefined;
  afterEach(async () => {
    await started?.app.close();
    started = undefined;
  });

  it('does not start with a producer-only BullMQ queue (it used to log one error a second for ever)', async () => {
    const start = async () => {
      started = await startHostingApp({
        hosting: { redis: 'redis://127.0.0.1:notaport' },
        imports: [HostingModule.registerQueue({ name: `invalid-url-${process.pid}`, backend: 'bullmq' })],
      });
    };
    await expect(start()).rejects.toThrow(/^HostingModule\.[^:]*: .*Redis URL "redis:\/\/127\.0\.0\.1:notaport" has port "notaport"/);
  });

  it('does not start with an exclusive periodic task (it used to fail each tick with a bare "TypeError: Invalid URL")', async () => {
    @Injectable()
    class Report {
      @Periodic({ every: 1_000 }, { exclusive: true })
      run() {}
    }
    const start = async () => {
      started = await startHostingApp({ hosting: { redis: 'redis://127.0.0.1:notaport' }, providers: [Report] });
    };
    await expect(start()).rejects.toThrow(`${FOR_ROOT}: the Redis URL "redis://127.0.0.1:notaport" has port "notaport"`);
  });

  it("names the queue's own option when the queue's connection is the bad one", async () => {
    const start = async () => {
      started = await startHostingApp({
        // @ts-expect-error -- a port that is not a number does not compile; from JavaScript it fails at start-up
        imports: [HostingModule.registerQueue({ name: 'own-url', backend: { type: 'bullmq', connection: { host: '127.0.0.1', port: 'abc' } } })],
      });
    };
    await expect(start()).rejects.toThrow(/^HostingModule\.registerQueue\("own-url"\): option "backend\.connection": the Redis option "port"/);
  });
});
