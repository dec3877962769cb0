import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { within } from '../support/hosting-app.js';
import { fixture } from '../support/paths.js';

/** Resolves true if the child is still running after `ms`, false if it exited before. */
const stillRunningAfter = (child: ChildApp, ms: number) => within(child.exited.then(() => false), ms, true);

describe('faults that end a process, in a real one', () => {
  let child: ChildApp | undefined;
  afterEach(async () => {
    await child?.dispose();
    child = undefined;
  });

  it('keeps the process alive while hosted work only awaits promises, and lets it go when stopped', async () => {
    child = spawnChildApp(fixture('host-faults.ts'), { env: { SCENARIO: 'promisesOnly' } });
    await child.waitForOutput(/EXECUTE aborted=false/, 30_000);
    // Before the fix Node reached beforeExit ~40 ms after start-up and exited 0 without any shutdown hook.
    expect(await stillRunningAfter(child, 1_500)).toBe(true);
    expect(child.output()).not.toContain('BEFORE EXIT');
    child.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 0, signal: null });
    expect(child.output()).toContain('SERVICE STOPPED');
  });

  it('a stop requested before the host started wins: nothing starts and the process exits 0 by itself', async () => {
    child = spawnChildApp(fixture('host-faults.ts'), { env: { SCENARIO: 'stopBeforeStart' } });
    const exited = await within(child.exited, 30_000, 'hung' as const);
    const out = child.output();
    expect(exited).toEqual({ code: 0, signal: null });
    expect(out).toContain('Stopping the host: the configuration is invalid');
    expect(out).not.toMatch(/TICK \d/);
    expect(out).not.toContain('EXECUTE');
  });

  it('contains thrown values of any kind: logged readably, counted, onFailed called, no crash', async () => {
    child = spawnChildApp(fixture('host-faults.ts'), { env: { SCENARIO: 'thrownValues' } });
    const [line] = await child.waitForOutput(/REPORTED .*/, 30_000);
    expect(line).toMatch(/state=(idle|running)/);
    expect(line).toContain('service=a non-Error value was thrown: [Object: null prototype] {}');
    const out = child.output();
    expect(out).not.toContain('UNHANDLED');
    expect(out).not.toContain('[object Object]');
    for (const expected of [
      'ONFAILED nullPrototype ThrownValueError: a non-Error value was thrown: [Object: null prototype] {}',
      'ONFAILED null ThrownValueError: a non-Error value was thrown: null',
      'ONFAILED undefined ThrownValueError: a non-Error value was thrown: undefined',
      'ONFAILED string ThrownValueError: a bare string',
      'ONFAILED messageObject ThrownValueError: boom',
      'Periodic task "Throwers.throwEach" failed',
    ])
      expect(out).toContain(expected);
    child.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });
});
