/**
 * spawnChildApp runs a .ts entry as a real Node process with this run's Nest: Nest 11
 * (CommonJS) in the jest.config.cjs run, Nest 12 (ESM, compat/nest12) in the
 * jest.esm.config.cjs run. SIGTERM goes through Nest's shutdown hooks and exits with code 0.
 */
import { expectedNestMajor } from '../support/nest-version.js';
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { fixture } from '../support/paths.js';

describe('spawnChildApp', () => {
  const major = expectedNestMajor();
  const moduleSystem = major === 12 ? 'esm' : 'cjs';
  const children: ChildApp[] = [];
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.dispose()));
  });

  it(`loads Nest ${major} (${moduleSystem}) in the child, and SIGTERM shuts it down gracefully with exit code 0`, async () => {
    const child = spawnChildApp(fixture('child-hello.ts'));
    children.push(child);
    const [, childMajor, childModuleSystem] = await child.waitForOutput(/READY (\d+) (\w+)/);
    expect(Number(childMajor)).toBe(major);
    expect(childModuleSystem).toBe(moduleSystem);

    expect(child.kill('SIGTERM')).toBe(true);
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.output()).toMatch(/SHUTDOWN SIGTERM/);
  });

  it('SIGINT works the same way', async () => {
    const child = spawnChildApp(fixture('child-hello.ts'));
    children.push(child);
    await child.waitForOutput('READY');
    child.kill('SIGINT');
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.output()).toMatch(/SHUTDOWN SIGINT/);
  });

  it('waitForOutput rejects, with the output, when the child exits first', async () => {
    const child = spawnChildApp(fixture('child-hello.ts'));
    children.push(child);
    await child.waitForOutput('READY');
    child.kill('SIGKILL');
    await expect(child.waitForOutput(/never printed/, 10_000)).rejects.toThrow(/exited .*first[\s\S]*READY/);
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });
});
