/**
 * The dashboard's queue routes over HTTP (memory backend): a queue's dead letters as JSON, a page
 * at a time, newest first; redrive and discard of one or all; cancel of an item; the same origin
 * checks as the other actions and the registry's errors as 400 / 404 / 409. And the queue fields
 * of issue 14 in status.json.
 */
import { Injectable, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AddressInfo } from 'node:net';
import {
  HostingModule,
  HostingRegistry,
  InjectQueue,
  Periodic,
  QueueWorker,
  ServiceKindError,
  UnknownServiceError,
  WorkQueue,
  type JobContext,
} from '../../src/index.js';
import { HostingDashboardModule, type HostingDashboardOptions } from '../../src/dashboard/index.js';
import {
  DASHBOARD_ACTION_HEADER_MISSING,
  DASHBOARD_CONFLICTING_ID,
  DASHBOARD_CROSS_SITE_ACTION,
  DASHBOARD_FOREIGN_ORIGIN,
  DASHBOARD_INVALID_BODY,
  DASHBOARD_INVALID_ID,
  DASHBOARD_INVALID_QUERY,
  DASHBOARD_MISSING_ID,
  DASHBOARD_UNKNOWN_PARAMETER,
  UNKNOWN_DASHBOARD_ACTION,
} from '../../src/dashboard/dashboard.messages.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { untilAborted, waitFor } from '../support/hosting-app.js';

const XSS = `<img src=x onerror="window.__xss=1"> & "quoted"`;

const cycle: Record<string, unknown> = { step: 'loop' };
cycle.self = cycle;
const progressOf = (key: string): number | object => (key === 'slow-cycle' ? cycle : key === 'slow-object' ? { step: XSS, done: 3 } : 42);

/** Item keys whose handling fails (until a test takes them out). */
const failing = new Set<string>();

interface Job {
  key: string;
  note?: unknown;
}

@Injectable()
class Jobs {
  constructor(@InjectQueue('jobs') readonly queue: WorkQueue<Job>) {}

  @QueueWorker('jobs', { concurrency: 4 })
  async work(job: Job, ctx: JobContext) {
    if (job.key.startsWith('slow')) {
      ctx.progress(progressOf(job.key));
      await untilAborted(ctx.signal);
      throw ctx.signal.reason;
    }
    if (failing.has(job.key)) throw new TypeError(`${XSS} (${job.key})`);
  }
}

@Injectable()
class Tasks {
  @Periodic({ every: 3_600_000, name: 'Reports.daily' })
  report() {}
}

interface Running {
  app: INestApplication;
  url: string;
  registry: HostingRegistry;
  jobs: WorkQueue<Job>;
}

let running: Running | undefined;

async function startApp(dashboard: HostingDashboardOptions = { readOnly: false }): Promise<Running> {
  const moduleRef = await Test.createTestingModule({
    imports: [HostingModule.forRoot({ shutdownTimeoutMs: 2_000 }), HostingModule.registerQueue({ name: 'jobs' }), HostingDashboardModule.register(dashboard)],
    providers: [Jobs, Tasks],
  })
    .setLogger(new CaptureLogger())
    .compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  running = { app, url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`, registry: app.get(HostingRegistry), jobs: app.get(Jobs).queue };
  return running;
}

/** Enqueues items that fail their only try, in order, and waits until they are dead letters. */
async function deadLetters(keys: string[], note: (key: string) => unknown = (key) => ({ text: XSS, key })): Promise<void> {
  const { jobs, registry } = running!;
  const before = registry.get('jobs')!.deadLetters ?? 0;
  for (const key of keys) {
    failing.add(key);
    await jobs.enqueue({ key, note: note(key) }, { id: key });
    // One at a time: failedAt (and so the order, newest first) follows the enqueue order.
    await waitFor(() => registry.get('jobs')!.deadLetters === before + keys.indexOf(key) + 1, 20_000, `${key} to become a dead letter`);
  }
}

const get = async (route: string) => {
  const response = await fetch(`${running!.url}/hosting/${route}`);
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
};

const post = async (route: string, body?: unknown, headers: Record<string, string> = { 'X-Hosting-Dashboard': '1' }) => {
  const response = await fetch(`${running!.url}/hosting/${route}`, {
    method: 'POST',
    headers: body === undefined ? headers : { 'Content-Type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as any };
};

const ids = (body: { items: Array<{ id: string }> }) => body.items.map((item) => item.id);

beforeEach(() => failing.clear());

afterEach(async () => {
  await running?.app.close();
  running = undefined;
});

describe('GET /<path>/queues/:name/dead-letters.json', () => {
  it('lists a page of dead letters, newest first, with id, attempts, failedAt, error (no stack) and the data as JSON text', async () => {
    await startApp();
    await deadLetters(['a', 'b', 'c']);

    const { status, headers, body } = await get('queues/jobs/dead-letters.json');
    expect(status).toBe(200);
    expect(headers.get('cache-control')).toBe('no-store');
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    expect(body).toEqual({ queue: 'jobs', total: 3, offset: 0, limit: 20, items: expect.any(Array) });
    expect(ids(body)).toEqual(['c', 'b', 'a']);
    expect(body.items[0]).toEqual({
      id: 'c',
      attempts: 1,
      failedAt: expect.any(String),
      error: { name: 'TypeError', message: `${XSS} (c)` },
      data: JSON.stringify({ key: 'c', note: { text: XSS, key: 'c' } }),
    });
    const times = body.items.map((item: { failedAt: string }) => Date.parse(item.failedAt));
    expect(times).toEqual([...times].sort((x, y) => y - x));

    // Paging.
    expect(ids((await get('queues/jobs/dead-letters.json?offset=1&limit=1')).body)).toEqual(['b']);
    const last = (await get('queues/jobs/dead-letters.json?offset=2&limit=5')).body;
    expect(last).toMatchObject({ total: 3, offset: 2, limit: 5 });
    expect(ids(last)).toEqual(['a']);
    expect((await get('queues/jobs/dead-letters.json?offset=7')).body).toMatchObject({ total: 3, items: [] });
  });

  it('cuts long data after 1,000 characters, describes what JSON cannot write, and shows stacks only with showErrorStacks', async () => {
    await startApp({ showErrorStacks: true });
    const circular: Record<string, unknown> = { name: 'loop' };
    circular.self = circular;
    const notes: Record<string, unknown> = { long: 'x'.repeat(5_000), loop: circular, big: 12n };
    await deadLetters(['long', 'loop', 'big'], (key) => notes[key]);
    const { body } = await get('queues/jobs/dead-letters.json');
    const [big, loop, long] = body.items;
    expect(long.data).toHaveLength(1_000);
    expect(long.data.startsWith('{"key":"long","note":"xxx')).toBe(true);
    expect(long.dataTruncated).toBe(true);
    expect(loop.data).toContain('[Circular');
    expect(loop.data).toContain("name: 'loop'");
    expect(loop.dataTruncated).toBeUndefined();
    expect(big.data).toBe('{"key":"big","note":"12n"}');
    expect(long.error.stack).toMatch(/^TypeError: .*\n\s+at /);
  });

  it('400 for a bad offset, limit or unknown parameter; 404 for an unknown queue; 409 for a unit that is not a queue', async () => {
    await startApp();
    const route = 'GET /hosting/queues/:name/dead-letters.json';
    expect(await get('queues/jobs/dead-letters.json?limit=0')).toMatchObject({
      status: 400,
      body: { message: DASHBOARD_INVALID_QUERY(route, 'limit', 'an integer from 1 to 100', '0') },
    });
    expect((await get('queues/jobs/dead-letters.json?limit=101')).status).toBe(400);
    expect(await get('queues/jobs/dead-letters.json?offset=-1')).toMatchObject({
      status: 400,
      body: { message: DASHBOARD_INVALID_QUERY(route, 'offset', 'an integer from 0 to 1000000000', '-1') },
    });
    expect((await get('queues/jobs/dead-letters.json?offset=1.5')).status).toBe(400);
    expect((await get('queues/jobs/dead-letters.json?limit=1&limit=2')).status).toBe(400);
    expect(await get('queues/jobs/dead-letters.json?page=2')).toMatchObject({
      status: 400,
      body: { message: DASHBOARD_UNKNOWN_PARAMETER(route, 'page', ['offset', 'limit']) },
    });
    const known = running!.registry.list().map((s) => s.name);
    expect(await get('queues/nope/dead-letters.json')).toMatchObject({ status: 404, body: { message: new UnknownServiceError('deadLetters', 'nope', known).message } });
    expect(await get(`queues/${encodeURIComponent('Reports.daily')}/dead-letters.json`)).toMatchObject({
      status: 409,
      body: { message: new ServiceKindError('deadLetters', 'Reports.daily', 'periodic', 'queue').message },
    });
  });

  it('is served read-only too (the page lists dead letters), where the posts are not', async () => {
    await startApp({});
    await deadLetters(['a']);
    expect(ids((await get('queues/jobs/dead-letters.json')).body)).toEqual(['a']);
    expect((await post('queues/jobs/dead-letters/discard', { id: 'a' })).status).toBe(404);
    expect((await post('queues/jobs/cancel', { id: 'a' })).status).toBe(404);
    expect(running!.registry.get('jobs')!.deadLetters).toBe(1);
  });
});

describe('POST /<path>/queues/:name/dead-letters/(redrive|discard)', () => {
  it('redrives one (id in the body or the query) back into the queue, and discards one or all; answers how many', async () => {
    await startApp();
    await deadLetters(['a', 'b', 'c', 'd']);
    const { registry } = running!;

    failing.delete('b');
    expect(await post('queues/jobs/dead-letters/redrive', { id: 'b' })).toEqual({ status: 200, body: { name: 'jobs', action: 'redrive', id: 'b', count: 1 } });
    await waitFor(() => registry.get('jobs')!.processed === 1, 20_000, 'b to be handled again, successfully');
    expect(ids((await get('queues/jobs/dead-letters.json')).body)).toEqual(['d', 'c', 'a']);

    failing.delete('c');
    expect(await post('queues/jobs/dead-letters/redrive?id=c')).toEqual({ status: 200, body: { name: 'jobs', action: 'redrive', id: 'c', count: 1 } });
    await waitFor(() => registry.get('jobs')!.processed === 2, 20_000, 'c to be handled again');

    // An unknown id: nothing done. The same id in body and query is one id.
    expect((await post('queues/jobs/dead-letters/discard', { id: 'zzz' })).body).toEqual({ name: 'jobs', action: 'discard', id: 'zzz', count: 0 });
    expect((await post('queues/jobs/dead-letters/discard?id=d', { id: 'd' })).body.count).toBe(1);
    expect(ids((await get('queues/jobs/dead-letters.json')).body)).toEqual(['a']);

    await deadLetters(['e', 'f']);
    expect(await post('queues/jobs/dead-letters/discard')).toEqual({ status: 200, body: { name: 'jobs', action: 'discard', count: 3 } });
    expect((await get('queues/jobs/dead-letters.json')).body).toMatchObject({ total: 0, items: [] });
    expect(registry.get('jobs')!.deadLetters).toBe(0);

    // Redrive all: each goes back (and fails again here: a dead letter once more).
    await deadLetters(['g', 'h']);
    expect((await post('queues/jobs/dead-letters/redrive', {})).body).toEqual({ name: 'jobs', action: 'redrive', count: 2 });
    // a to h failed once each, g and h twice.
    await waitFor(() => registry.get('jobs')!.failed === 10 && registry.get('jobs')!.deadLetters === 2, 20_000, 'g and h to fail again');
    expect(ids((await get('queues/jobs/dead-letters.json')).body).sort()).toEqual(['g', 'h']);
  });

  it('refuses (403) a post without the header or from another origin, as the other actions; nothing is done', async () => {
    const { url } = await startApp();
    await deadLetters(['a']);
    const route = 'queues/jobs/dead-letters/discard';
    expect(await post(route, {}, {})).toMatchObject({ status: 403, body: { message: DASHBOARD_ACTION_HEADER_MISSING('X-Hosting-Dashboard') } });
    expect(await post(route, {}, { 'X-Hosting-Dashboard': '1', 'Sec-Fetch-Site': 'cross-site' })).toMatchObject({
      status: 403,
      body: { message: DASHBOARD_CROSS_SITE_ACTION('cross-site') },
    });
    expect(await post(route, {}, { 'X-Hosting-Dashboard': '1', Origin: 'http://127.0.0.1:1' })).toMatchObject({
      status: 403,
      body: { message: DASHBOARD_FOREIGN_ORIGIN('http://127.0.0.1:1', url) },
    });
    expect((await post('queues/jobs/dead-letters/redrive', { id: 'a' }, { 'X-Hosting-Dashboard': '1', 'Sec-Fetch-Site': 'same-site' })).status).toBe(403);
    expect((await post('queues/jobs/cancel', { id: 'a' }, {})).status).toBe(403);
    expect(running!.registry.get('jobs')!.deadLetters).toBe(1);
    // The page itself (same origin) is let through.
    expect((await post(route, { id: 'a' }, { 'X-Hosting-Dashboard': '1', Origin: url, 'Sec-Fetch-Site': 'same-origin' })).body.count).toBe(1);
  });

  it('400 for a bad body or id (a misspelt key never means "all"), 404 for an unknown queue or action, 409 for a unit that is not a queue', async () => {
    await startApp();
    await deadLetters(['a']);
    const route = 'POST /hosting/queues/:name/dead-letters/discard';
    const discard = 'queues/jobs/dead-letters/discard';
    expect(await post(discard, { Id: 'a' })).toMatchObject({ status: 400, body: { message: DASHBOARD_UNKNOWN_PARAMETER(route, 'Id', ['id']) } });
    expect(await post(`${discard}?ids=a`)).toMatchObject({ status: 400, body: { message: DASHBOARD_UNKNOWN_PARAMETER(route, 'ids', ['id']) } });
    expect(await post(discard, { id: 7 })).toMatchObject({ status: 400, body: { message: DASHBOARD_INVALID_ID(route, 'body', 7) } });
    expect(await post(discard, { id: '' })).toMatchObject({ status: 400, body: { message: DASHBOARD_INVALID_ID(route, 'body', '') } });
    expect(await post(discard, ['a'])).toMatchObject({ status: 400, body: { message: DASHBOARD_INVALID_BODY(route, ['a']) } });
    expect(await post(`${discard}?id=b`, { id: 'a' })).toMatchObject({ status: 400, body: { message: DASHBOARD_CONFLICTING_ID(route, 'a', 'b') } });
    expect(await post(`${discard}?id=a&id=b`)).toMatchObject({ status: 400, body: { message: DASHBOARD_INVALID_ID(route, 'query', ['a', 'b']) } });
    expect(running!.registry.get('jobs')!.deadLetters).toBe(1);

    expect(await post('queues/jobs/dead-letters/purge', {})).toMatchObject({ status: 404, body: { message: UNKNOWN_DASHBOARD_ACTION('purge', ['redrive', 'discard']) } });
    const known = running!.registry.list().map((s) => s.name);
    expect(await post('queues/nope/dead-letters/redrive', {})).toMatchObject({ status: 404, body: { message: new UnknownServiceError('redrive', 'nope', known).message } });
    expect(await post('queues/Reports.daily/dead-letters/discard', {})).toMatchObject({
      status: 409,
      body: { message: new ServiceKindError('discard', 'Reports.daily', 'periodic', 'queue').message },
    });
    expect(running!.registry.get('jobs')!.deadLetters).toBe(1);
  });
});

describe('POST /<path>/queues/:name/cancel', () => {
  it('aborts a running item (it ends cancelled), answers not-found for an unknown one, and needs an id', async () => {
    await startApp();
    const { jobs, registry } = running!;
    await jobs.enqueue({ key: 'slow' }, { id: 'slow' });
    await waitFor(() => registry.get('jobs')!.progress?.length === 1, 20_000, 'the slow item to report progress');

    // status.json carries the new queue fields.
    const status = (await get('status.json')).body.services.find((s: { name: string }) => s.name === 'jobs');
    expect(status).toMatchObject({ kind: 'queue', inFlight: 1, cancelled: 0, deadLetters: 0, progress: [{ id: 'slow', attempt: 1, value: 42 }] });

    expect(await post('queues/jobs/cancel', { id: 'slow' })).toEqual({ status: 200, body: { name: 'jobs', id: 'slow', result: 'aborted' } });
    await waitFor(() => registry.get('jobs')!.cancelled === 1, 20_000, 'the item to end cancelled');
    expect(registry.get('jobs')).toMatchObject({ inFlight: 0, failed: 0, deadLetters: 0 });
    expect((await post('queues/jobs/cancel?id=slow')).body).toEqual({ name: 'jobs', id: 'slow', result: 'not-found' });

    expect(await post('queues/jobs/cancel', {})).toMatchObject({ status: 400, body: { message: DASHBOARD_MISSING_ID('POST /hosting/queues/:name/cancel') } });
    expect((await post('queues/Reports.daily/cancel', { id: 'x' })).status).toBe(409);
    expect((await post('queues/nope/cancel', { id: 'x' })).status).toBe(404);
  });

  it('status.json writes a progress value JSON cannot (a cycle) as a description instead of failing', async () => {
    await startApp();
    const { jobs, registry } = running!;
    await jobs.enqueue({ key: 'slow-object' }, { id: 'slow-object' });
    await jobs.enqueue({ key: 'slow-cycle' }, { id: 'slow-cycle' });
    await waitFor(() => registry.get('jobs')!.progress?.length === 2, 20_000, 'progress');
    const response = await get('status.json');
    expect(response.status).toBe(200);
    const status = response.body.services.find((s: { name: string }) => s.name === 'jobs');
    expect(status.progress).toEqual([
      { id: 'slow-object', attempt: 1, value: { step: XSS, done: 3 } },
      { id: 'slow-cycle', attempt: 1, value: { unserializable: "<ref *1> { step: 'loop', self: [Circular *1] }" } },
    ]);
    // Ended here rather than at the shutdown deadline.
    expect(await registry.cancel('jobs', 'slow-object')).toBe('aborted');
    expect(await registry.cancel('jobs', 'slow-cycle')).toBe('aborted');
  });
});
