import { spawnChildApp } from '../support/child-app.js';
import { fixture } from '../support/paths.js';

describe('in a real process with enableShutdownHooks()', () => {
  it('SIGTERM mid-tick: the tick finishes, resources close after it, and the process exits 0', async () => {
    const child = spawnChildApp(fixture('host-lifecycle.ts'), { env: { SCENARIO: 'drain' } });
    await child.waitForOutput(/TICK START/, 30_000);
    child.kill('SIGTERM');
    const exit = await child.exited;
    const out = child.output();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/TICK START\nTICK END aborted=true\nSHUTDOWN SIGTERM/);
  });

  it("a background service failing with onError 'stopHost' stops the host gracefully with exit code 1", async () => {
    const child = spawnChildApp(fixture('host-lifecycle.ts'), { env: { SCENARIO: 'stopHost' } });
    const exit = await child.exited;
    const out = child.output();
    expect(exit).toEqual({ code: 1, signal: null });
    expect(out).toContain('Background service "FailingService" failed');
    expect(out).toContain('lost the database');
    expect(out).toContain('SHUTDOWN SIGTERM');
  });

  it('HostLifetime.stopApplication() stops the app gracefully with exit code 0', async () => {
    const child = spawnChildApp(fixture('host-lifecycle.ts'), { env: { SCENARIO: 'stopApp' } });
    const exit = await child.exited;
    const out = child.output();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(out).toContain('SERVICE STOPPED reason=received SIGTERM');
    expect(out).toContain('SHUTDOWN SIGTERM');
  });

  it('contains every failure: logged, counted, never an unhandled rejection, and the app keeps running', async () => {
    const child = spawnChildApp(fixture('host-lifecycle.ts'), { env: { SCENARIO: 'failures' } });
    await child.waitForOutput(/FAILURES COUNTED/, 30_000);
    child.kill('SIGTERM');
    const exit = await child.exited;
    const out = child.output();
    expect(out).not.toContain('UNHANDLED');
    for (const logged of [
      'Periodic task "Failures.syncThrow" failed',
      'sync tick failure',
      'Periodic task "Failures.asyncThrow" failed',
      'Background service "IgnoredFailure" failed',
      'Queue "doomed" item 1 failed after 2 tries',
      'BrokenUnitOfWork.onScopeEnd failed',
      'Queue "doomed": the onFailed hook threw',
    ]) {
      expect(out).toContain(logged);
    }
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
