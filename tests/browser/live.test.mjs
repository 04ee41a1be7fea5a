// /app updates live: two browser contexts signed in as the same user; an
// item added in one appears in the other without a reload, under the CSP.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { artifactPath, launchBrowser, signIn, startRampart, watch } from './rampart.mjs';

describe('live app page', () => {
  let rampart;
  let browser;

  before(async () => {
    rampart = await startRampart();
    rampart.createUser('alice');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rampart?.stop();
  });

  test('an item added in one window appears in the other without a reload', async () => {
    const writerContext = await browser.newContext();
    const readerContext = await browser.newContext();
    const writer = await writerContext.newPage();
    const reader = await readerContext.newPage();
    const seen = await watch(reader);
    await signIn(writer, rampart.base, 'alice');
    await signIn(reader, rampart.base, 'alice');
    // The reader's socket is open once the page says so.
    await reader.waitForSelector('body[data-live="on"]');
    let reloaded = false;
    reader.on('load', () => {
      reloaded = true;
    });

    await writer.getByLabel('Name').fill('Live lamp');
    await writer.getByLabel(/Description/).fill('A <b>bright</b> <script>alert(1)</script>lamp');
    await writer.getByLabel('Price').fill('24.5');
    await writer.getByLabel(/Tax/).fill('2');
    await writer.getByRole('button', { name: 'Add item' }).click();
    await writer.waitForURL(`${rampart.base}/app`);

    const item = reader.locator('article.item', { hasText: 'Live lamp' });
    await item.waitFor({ timeout: 30_000 });
    assert.equal(await item.locator('.description b').textContent(), 'bright');
    assert.equal(await item.locator('script').count(), 0, 'the stored HTML is the sanitized one');
    assert.equal(await item.locator('.price').textContent(), '24.5 + 2.0 tax');
    assert.equal(await reader.locator('#list-heading').textContent(), '1 item');
    assert.equal(reloaded, false, 'no reload');
    await reader.screenshot({ path: artifactPath('live.png'), fullPage: true });

    assert.deepEqual(await reader.evaluate(() => window.__violations), [], 'no CSP violation');
    assert.deepEqual(seen.violations, []);
    assert.deepEqual(seen.errors, [], 'no console error');
    await writerContext.close();
    await readerContext.close();
  });
});
