/**
 * Debian's Chromium for playwright-core (no browser download: the machine has no network
 * beyond the package registries). .ci/run installs it with apt-get when missing.
 *
 *   import { chromium } from 'playwright-core';
 *   const browser = await chromium.launch(chromiumLaunchOptions());
 */
import * as fs from 'node:fs';

export const CHROMIUM_MISSING_MESSAGE =
  'chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH — browser tests cannot run without it';

/** CHROMIUM_PATH, else /usr/bin/chromium; throws a loud error when neither exists. */
export function chromiumExecutable(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(
    (p): p is string => Boolean(p),
  );
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(CHROMIUM_MISSING_MESSAGE);
  return found;
}

/** Options for playwright-core's `chromium.launch()` (headless; --no-sandbox since CI runs as root). */
export function chromiumLaunchOptions(): { executablePath: string; headless: boolean; args: string[] } {
  return { executablePath: chromiumExecutable(), headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] };
}
