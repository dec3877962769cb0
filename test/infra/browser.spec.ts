/** Debian's Chromium drives through playwright-core in both runs (no browser download). */
import { chromium } from 'playwright-core';
import { chromiumLaunchOptions } from '../support/browser.js';

describe('chromium via playwright-core', () => {
  it('launches /usr/bin/chromium headless and renders a page', async () => {
    const browser = await chromium.launch(chromiumLaunchOptions());
    try {
      const page = await browser.newPage();
      await page.setContent('<h1 id="t">nest-hosting</h1>');
      expect(await page.textContent('#t')).toBe('nest-hosting');
    } finally {
      await browser.close();
    }
  });
});
