/**
 * The README's "Transactional outbox" example (test/fixtures/outbox-readme-example.ts holds it, with
 * the library imported from src/) runs as a process on this run's Nest: the order's confirmation
 * email is relayed and sent, and the app closes cleanly, with nothing on stderr.
 */
import { spawnChildApp, type ChildApp } from '../support/child-app.js';
import { fixture } from '../support/paths.js';

let child: ChildApp | undefined;
afterEach(async () => {
  await child?.dispose();
});

it("the README's outbox example places an order whose confirmation is relayed and sent, then closes cleanly", async () => {
  child = spawnChildApp(fixture('outbox-readme-example.ts'), { env: { NO_COLOR: '1' } });
  await child.waitForOutput('CLOSED', 60_000);
  expect(await child.exited).toEqual({ code: 0, signal: null });
  expect(child.output()).toBe('Sending the confirmation of order #1\nCLOSED\n');
}, 90_000);
