import { assessHosting, downConnections } from '../../src/health/hosting-health.js';
import type { ServiceStatus } from '../../src/index.js';

const periodic = (over: Partial<ServiceStatus>): ServiceStatus => ({
  name: 'task',
  kind: 'periodic',
  state: 'idle',
  runs: 1,
  failures: 0,
  consecutiveFailures: 0,
  missedTicks: 0,
  ...over,
});

describe('assessHosting', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');

  it('counts an idle task as overdue from its next run, a running one from one period after it started', () => {
    const idleLate = periodic({ name: 'idle', schedule: 'every 1000 ms', periodMs: 1000, nextRunAt: new Date(now - 3_500) });
    const idleOnTime = periodic({ name: 'fine', schedule: 'every 1000 ms', periodMs: 1000, nextRunAt: new Date(now - 2_500) });
    const hung = periodic({ name: 'hung', state: 'running', schedule: 'every 1000 ms', periodMs: 1000, lastStartedAt: new Date(now - 4_500) });
    const cronLate = periodic({ name: 'cron', schedule: 'cron * * * * * *', periodMs: 1_000, nextRunAt: new Date(now - 4_000) });
    const result = assessHosting([idleLate, idleOnTime, hung, cronLate], { overduePeriods: 3 }, now);
    expect(result.overdue).toEqual([
      { name: 'idle', overdueMs: 3_500, periodMs: 1_000 },
      { name: 'hung', overdueMs: 3_500, periodMs: 1_000 },
      { name: 'cron', overdueMs: 4_000, periodMs: 1_000 },
    ]);
  });

  it('never counts a paused, stopping or stopped task, and skips ignored names', () => {
    const late = { schedule: 'every 10 ms', periodMs: 10, nextRunAt: new Date(now - 60_000) };
    const result = assessHosting(
      [
        periodic({ ...late, name: 'paused', paused: true }),
        periodic({ ...late, name: 'stopped', state: 'stopped' }),
        periodic({ ...late, name: 'ignored' }),
        { ...periodic({ name: 'Pump' }), kind: 'background', state: 'faulted' },
        { ...periodic({ name: 'Legacy' }), kind: 'background', state: 'faulted' },
      ],
      { ignore: ['ignored', 'Legacy'] },
      now,
    );
    expect(result).toEqual({ faulted: ['Pump'], overdue: [] });
  });
});

describe('downConnections (readiness)', () => {
  const since = new Date('2030-01-01T00:00:00Z');
  const queue = (name: string, states: Array<['producer' | 'worker', 'connecting' | 'up' | 'down']>): ServiceStatus => ({
    ...periodic({ name }),
    kind: 'queue',
    state: 'running',
    connections: states.map(([connection, state]) => ({ name: connection, state, since, ...(state === 'down' && { lastError: 'connect ECONNREFUSED' }) })),
  });

  it('names every connection that is down, unit by unit; connecting and up ones do not count', () => {
    const statuses = [
      queue('emails', [['producer', 'up'], ['worker', 'down']]),
      queue('sms', [['producer', 'connecting'], ['worker', 'up']]),
      { ...periodic({ name: 'report' }), connections: [{ name: 'redis', state: 'down' as const, since }] },
      periodic({ name: 'local' }),
    ];
    expect(downConnections(statuses)).toEqual([
      { service: 'emails', connection: 'worker', since: since.toISOString(), error: 'connect ECONNREFUSED' },
      { service: 'report', connection: 'redis', since: since.toISOString() },
    ]);
  });

  it('leaves out ignored units', () => {
    expect(downConnections([queue('emails', [['worker', 'down']])], { ignore: ['emails'] })).toEqual([]);
  });
});
