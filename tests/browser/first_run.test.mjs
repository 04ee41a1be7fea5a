// A new user's first minutes: the setup link the server prints, the first
// admin created through it, signing in; and the API documentation, which
// must render under its CSP without a console error.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, artifactPath, launchBrowser, startRampart, watch } from './rampart.mjs';

/** Polls `read` until it returns a value, up to a generous deadline. */
async function eventually(read, what) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('first run', () => {
  let rampart;
  let browser;

  before(async () => {
    rampart = await startRampart();
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rampart?.stop();
  });

  test('the setup link from the log creates the first admin, who signs in; the link then refuses', async () => {
    const line = await eventually(
      () => rampart.stderr().split('\n').find((l) => l.includes('/setup?token=')),
      'the setup link on stderr',
    );
    const link = line.match(/https?:\/\/\S+\/setup\?token=[A-Za-z0-9_-]{43}/)[0];
    assert.ok(link.startsWith(rampart.base), `${link} is on ${rampart.base}`);

    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);
    const opened = await page.goto(link);
    assert.equal(opened.status(), 200);
    await page.screenshot({ path: artifactPath('setup.png'), fullPage: true });
    await page.getByLabel('Username').fill('founder');
    await page.getByLabel(/Password/).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create admin' }).click();
    await page.waitForURL(`${rampart.base}/login`);

    await page.getByLabel('Username').fill('founder');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${rampart.base}/app`);
    const me = await page.evaluate(async () => (await fetch('/users/me')).json());
    assert.deepEqual(me.roles.sort(), ['admin', 'user']);

    const again = await page.goto(link);
    assert.equal(again.status(), 404, 'the link works once');
    assert.deepEqual(seen.violations, []);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    await context.close();
  });

  test('/docs renders Swagger UI with no console error and no CSP violation', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);
    await page.goto(`${rampart.base}/docs`);
    await page.locator('.swagger-ui .info .title').waitFor();
    await page.locator('.opblock-summary-path', { hasText: '/items/{item_id}' }).first().waitFor();
    // Icons and the logo are drawn (they were blocked, blank squares).
    await page.locator('.topbar-wrapper svg, .topbar-wrapper img').first().waitFor();
    await page.screenshot({ path: artifactPath('docs.png'), fullPage: false });
    assert.deepEqual(seen.violations, []);
    assert.deepEqual(seen.errors, []);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    await context.close();
  });
});
