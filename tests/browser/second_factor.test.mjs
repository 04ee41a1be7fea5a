// Second factors in a real browser: TOTP turned on from /account (its QR
// code drawn on the server as SVG, no script needed, no CSP violation),
// then the sign-in in two steps; and a passkey added on /account, then used
// alone and as the second step, with Chromium's virtual authenticator
// (DevTools protocol, WebAuthn domain). Codes come from oathtool (OATH
// Toolkit).

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
    // One script, the passkeys'; TOTP below works without it.
    assert.deepEqual(
      await page.locator('script').evaluateAll((scripts) => scripts.map((s) => s.getAttribute('src'))),
      ['/static/mfa.js'],
    );
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

  test('a person adds a passkey on the account page, then signs in with it alone and as a second step', async () => {
    rampart.createUser('carol');
    // A passkey's relying party is a domain: the browser reaches the
    // server as localhost.
    const base = rampart.base.replace('127.0.0.1', 'localhost');
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);
    const missing = [];
    page.on('response', (response) => {
      if (response.status() === 404) missing.push(new URL(response.url()).pathname);
    });
    const devtools = await context.newCDPSession(page);
    await devtools.send('WebAuthn.enable');
    const { authenticatorId } = await devtools.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/app`);

    await page.goto(`${base}/account`);
    assert.equal(await page.locator('#passkeys-state').textContent(), 'None yet.');
    await page.locator('#passkey-name').fill('This laptop');
    await page.locator('#passkey-password').fill(PASSWORD);
    await page.locator('#passkey-add').click();
    await page.locator('#passkey-codes').waitFor();
    assert.equal(await page.locator('#passkey-codes li').count(), 10, 'the first factor brings the recovery codes');
    await page.screenshot({ path: artifactPath('account-passkey-added.png'), fullPage: true });
    const { credentials } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
    assert.equal(credentials[0].rpId, 'localhost');

    await page.getByRole('link', { name: 'Continue' }).click();
    await page.waitForURL(`${base}/account`);
    assert.equal(await page.locator('#passkey-list .passkey-name').textContent(), 'This laptop');
    await page.screenshot({ path: artifactPath('account-passkeys.png'), fullPage: true });

    // Alone: the passkey names its account.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.screenshot({ path: artifactPath('login-passkey.png'), fullPage: true });
    await page.locator('#passkey-login').click();
    await page.waitForURL(`${base}/app`);

    // As the second step after the password.
    await page.goto(`${base}/account`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/login`);
    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#passkey-verify').waitFor();
    await page.screenshot({ path: artifactPath('login-mfa-passkey.png'), fullPage: true });
    await page.locator('#passkey-verify').click();
    await page.waitForURL(`${base}/app`);

    const { credentials: used } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(used[0].signCount, credentials[0].signCount + 2, 'two assertions signed');
    assert.deepEqual(seen.dialogs, []);
    assert.deepEqual(seen.violations, []);
    // Every resource a page asked for was there (the browser's own
    // favicon.ico apart: no page names one).
    assert.deepEqual(missing.filter((path) => path !== '/favicon.ico'), []);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    await context.close();
  });
});
