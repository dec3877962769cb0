/**
 * Proves which Nest each jest run loads: Nest 11 (CommonJS) in jest.config.cjs, Nest 12
 * (ESM, from compat/nest12) in jest.esm.config.cjs, with one copy shared by the tests,
 * @nestjs/testing, @nestjs/schedule and @nestjs/terminus, and decorator metadata working.
 */
import 'reflect-metadata';
import { jest } from '@jest/globals';
import * as path from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { expectedNestMajor, loadedPackage } from '../support/nest-version.js';
import { nest12Dir, repoRoot } from '../support/paths.js';

jest.setTimeout(30_000);

@Injectable()
class Clock {
  now(): number {
    return 42;
  }
}

@Injectable()
class Greeter {
  // No @Inject(): resolving this needs `design:paramtypes` emitted by the compiler.
  constructor(readonly clock: Clock) {}
  greet(): string {
    return `hello at ${this.clock.now()}`;
  }
}

@Module({ imports: [ScheduleModule.forRoot(), TerminusModule], providers: [Clock, Greeter] })
class AppModule {}

describe(`Nest ${process.env.NEST_MAJOR} (${process.env.NEST_TEST_MODE})`, () => {
  const major = expectedNestMajor();
  const expectedDir = major === 12 ? path.join(nest12Dir, 'node_modules') : path.join(repoRoot, 'node_modules');

  it('runs in the module system the config asked for', () => {
    expect(typeof require === 'function').toBe(process.env.NEST_TEST_MODE === 'cjs');
  });

  // Each package is imported above by name (through this run's resolution) and here again by
  // the absolute path of the file the mapping says it must be: the same export object proves
  // that the file really loaded is that one, and its package.json gives the version.
  it.each([
    ['@nestjs/core', 'NestFactory', NestFactory],
    ['@nestjs/common', 'Injectable', Injectable],
    ['@nestjs/testing', 'Test', Test],
    ['@nestjs/platform-express', 'ExpressAdapter', ExpressAdapter],
    ['@nestjs/schedule', 'SchedulerRegistry', SchedulerRegistry],
    ['@nestjs/terminus', 'HealthCheckService', HealthCheckService],
  ] as const)('%s is the single copy under the expected node_modules', async (specifier, exportName, imported) => {
    const loaded = await loadedPackage(specifier);
    expect(loaded.exports[exportName]).toBe(imported);
    expect(loaded.packageDir.startsWith(expectedDir + path.sep)).toBe(true);
    if (specifier !== '@nestjs/schedule' && specifier !== '@nestjs/terminus') {
      expect(loaded.major).toBe(major); // schedule/terminus have their own version lines
    }
  });

  it('@nestjs/core major equals NEST_MAJOR', async () => {
    expect((await loadedPackage('@nestjs/core')).major).toBe(major);
  });

  it('creates a real app: constructor injection via decorator metadata, schedule and terminus on the same Nest', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    try {
      const greeter = app.get(Greeter);
      expect(greeter.clock).toBeInstanceOf(Clock);
      expect(greeter.greet()).toBe('hello at 42');
      expect(app.get(SchedulerRegistry).getIntervals()).toEqual([]);
      expect(app.get(HealthCheckService)).toBeDefined();
    } finally {
      await app.close();
    }
  });
});
