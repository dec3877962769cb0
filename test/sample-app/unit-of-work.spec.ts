import * as path from 'node:path';
import { Test } from '@nestjs/testing';
import { HostingModule, ScopeFactory } from '../../src/index.js';
import { DATABASE_FILE } from '../../sample-app/database/database.constants.js';
import { DatabaseModule } from '../../sample-app/database/database.module.js';
import { Database } from '../../sample-app/database/database.js';
import { UnitOfWork } from '../../sample-app/database/unit-of-work.js';
import { CaptureLogger } from '../support/capture-logger.js';
import { tempDataDir } from './sample-process.js';

describe("the sample's UnitOfWork (request-scoped, OnScopeEnd)", () => {
  async function start() {
    const app = await Test.createTestingModule({ imports: [HostingModule.forRoot(), DatabaseModule] })
      .overrideProvider(DATABASE_FILE)
      .useValue(path.join(tempDataDir(), 'shop.sqlite'))
      .setLogger(new CaptureLogger())
      .compile();
    await app.init();
    const reports = () => (app.get(Database).connection.prepare('SELECT day FROM daily_reports ORDER BY day').all() as Array<{ day: string }>).map((r) => r.day);
    return { app, scopes: app.get(ScopeFactory), reports };
  }
  const insertReport = (work: UnitOfWork, day: string) =>
    work.connection.prepare(`INSERT INTO daily_reports (day, orders, revenue_cents, created_at) VALUES (?, 0, 0, '')`).run(day);

  it('commits when the unit of work succeeds', async () => {
    const { app, scopes, reports } = await start();
    await scopes.run(async (scope) => {
      const work = await scope.resolve(UnitOfWork);
      insertReport(work, '2030-01-01');
      insertReport(work, '2030-01-02');
      expect(reports()).toEqual([]); // not visible outside the transaction yet
    });
    expect(reports()).toEqual(['2030-01-01', '2030-01-02']);
    await app.close();
  });

  it('rolls back every write when the unit of work fails', async () => {
    const { app, scopes, reports } = await start();
    await expect(
      scopes.run(async (scope) => {
        insertReport(await scope.resolve(UnitOfWork), '2030-01-03');
        throw new Error('the second half failed');
      }),
    ).rejects.toThrow('the second half failed');
    expect(reports()).toEqual([]);
    await app.close();
  });

  it('gives each scope its own instance', async () => {
    const { app, scopes } = await start();
    const [a, b] = await Promise.all([scopes.run((s) => s.resolve(UnitOfWork)), scopes.run((s) => s.resolve(UnitOfWork))]);
    expect(a).not.toBe(b);
    await app.close();
  });
});
