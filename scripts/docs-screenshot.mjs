#!/usr/bin/env node
/**
 * `npm run docs:screenshot`: regenerates docs/dashboard.png (desktop, 1280 px wide, the whole page)
 * and docs/dashboard-phone.png (a 390 × 844 phone screen), the dashboard of the sample shop
 * (started with scripts/sample.mjs on a temp DATA_DIR) after some 20 s of orders, while their emails are being sent
 * (the desktop one with the emails queue's run-history drawer open),
 * taken in headless Chromium (Debian's `chromium`, or CHROMIUM_PATH) driven by playwright-core.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(repoRoot, 'docs', 'dashboard.png');
const phoneTarget = path.join(repoRoot, 'docs', 'dashboard-phone.png');
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

const port = await freePort();
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-screenshot-'));
const app = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'sample.mjs')], {
  cwd: repoRoot,
  env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, EMAIL_SEND_MS: '1500', NO_COLOR: '1' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
let output = '';
app.stdout.on('data', (chunk) => (output += chunk));
const base = `http://127.0.0.1:${port}`;
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nest-hosting-chromium-'));
let context;
try {
  const deadline = Date.now() + 180_000;
  while (!/Listening on http/.test(output)) {
    if (Date.now() > deadline || app.exitCode !== null) throw new Error(`the sample did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const skus = ['TEA-01', 'MUG-02', 'KTL-03', 'POT-04'];
  const order = (n) =>
    fetch(`${base}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerEmail: `customer${n}@example.com`, items: [{ sku: skus[n % 4], quantity: 1 + (n % 2) }] }),
    });
  // Orders in bursts for about 22 s, so that the history (a queue sample every 5 s) has a few
  // points of throughput and depth; then a last burst, so that emails are queued and in flight.
  const bursts = [3, 0, 1, 5, 0, 2, 0, 4, 1, 0, 2];
  let n = 0;
  for (const burst of bursts) {
    for (let i = 0; i < burst; i++) await order(n++);
    await new Promise((r) => setTimeout(r, 2_000));
  }
  for (let i = 0; i < 8; i++) {
    await order(n++);
    if (i === 3) await new Promise((r) => setTimeout(r, 1_700)); // a few sent, the rest queued
  }
  context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args, viewport: { width: 1280, height: 560 } });
  const page = await context.newPage();
  await page.goto(`${base}/hosting`);
  await page.waitForSelector('tbody tr');
  // The run-history drawer of the queue, open (as a click on its row or its charts opens it).
  await page.locator('tr[data-service="emails"] button[data-drawer-toggle]').click();
  fs.mkdirSync(path.dirname(target), { recursive: true });
  await page.screenshot({ path: target, fullPage: true });
  await page.locator('tr[data-service="emails"] button[data-drawer-toggle]').click();
  console.log(`docs:screenshot: wrote ${path.relative(repoRoot, target)}`);

  await page.setViewportSize({ width: 390, height: 844 });
  const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  if (scrollWidth > innerWidth) throw new Error(`the dashboard is ${scrollWidth} px wide on a ${innerWidth} px phone screen`);
  await page.screenshot({ path: phoneTarget });
  console.log(`docs:screenshot: wrote ${path.relative(repoRoot, phoneTarget)}`);
} finally {
  await context?.close();
  app.kill('SIGTERM');
  await new Promise((resolve) => (app.exitCode !== null ? resolve() : app.once('exit', resolve)));
  fs.rmSync(userDataDir, { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
}
