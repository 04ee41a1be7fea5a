// Second factors in a real browser: TOTP turned on from /account (its QR
// code drawn on the server as SVG, no script, no CSP violation), then the
// sign-in in two steps. Codes come from oathtool (OATH Toolkit).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, artifactPath, launchBrowser, startRampart, watch } from './rampart.mjs';

/** The TOTP code of `secret` (base32) `ahead` seconds from now. */
function code(secret, ahead = 0) {
  const at = new Date(Date.now() + ahead * 1000).toISOString().replace('T', ' ').replace(/\..*/, ' UTC');
  const result = spawnSync('oathtool', ['--totp', '-b', '--now', at, secret]);
  if (result.status !== 0) throw new Error(`oathtool: ${result.stderr}`);
  return result.stdout.toString().trim();
}

describe('second factors', () => {
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

  test('a person turns TOTP on from the account page, then signs in in two steps', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);

    await page.goto(`${rampart.base}/login`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${rampart.base}/app`);

    await page.goto(`${rampart.base}/account`);
    assert.equal(await page.locator('#totp-state').textContent(), 'Off.');
    assert.equal(await page.locator('script').count(), 0, 'the page works without script');
    await page.screenshot({ path: artifactPath('account.png'), fullPage: true });
    await page.locator('#totp-password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set up' }).click();
    await page.waitForURL(`${rampart.base}/account/totp`);
    assert.equal(await page.locator('figure.qr svg').count(), 1, 'the QR code, as SVG');
    await page.screenshot({ path: artifactPath('account-totp.png'), fullPage: true });
    const secret = (await page.locator('#totp-secret').textContent()).trim();
    await page.getByLabel('Code from the app').fill(code(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.waitForURL(`${rampart.base}/account/totp/confirm`);
    assert.equal(await page.locator('#totp-state').textContent(), 'On.');
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    await page.screenshot({ path: artifactPath('account-recovery-codes.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${rampart.base}/login`);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const field = page.getByLabel(/Code from your authenticator app/);
    await field.waitFor();
    await page.screenshot({ path: artifactPath('login-mfa.png'), fullPage: true });
    // The next time step's code: the one that turned TOTP on is spent.
    await field.fill(code(secret, 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.waitForURL(`${rampart.base}/app`);

    assert.deepEqual(seen.dialogs, []);
    assert.deepEqual(seen.violations, []);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    await context.close();
  });
});
