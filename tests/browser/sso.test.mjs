// Single sign-on in a real browser: a person clicks the provider's link on
// /login, signs in on the provider's own page (panva's oidc-provider, its
// development login and consent forms), and lands on the app page with a
// session.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { artifactPath, freePort, launchBrowser, startProvider, startRampart, watch } from './rampart.mjs';

const SECRET = 'a-client-secret-of-the-provider-0123456789';

describe('single sign-on', () => {
  let provider;
  let rampart;
  let browser;

  before(async () => {
    const port = await freePort();
    provider = await startProvider(
      [
        {
          client_id: 'rampart',
          client_secret: SECRET,
          redirect_uris: [`http://127.0.0.1:${port}/login/oidc/corp/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      { grace: { preferred_username: 'grace', email: 'grace@example.com', email_verified: true } },
    );
    const toml = [
      '[[oidc.providers]]',
      'name = "corp"',
      'display_name = "Corp SSO"',
      `issuer = "${provider.issuer}"`,
      'client_id = "rampart"',
      '',
    ].join('\n');
    rampart = await startRampart(
      { RAMPART_BIND: `127.0.0.1:${port}`, RAMPART_OIDC__CORP__CLIENT_SECRET: SECRET },
      toml,
    );
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rampart?.stop();
    provider?.stop();
  });

  test("a person signs in through the organisation's provider", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);

    await page.goto(`${rampart.base}/login`);
    await page.screenshot({ path: artifactPath('login-sso.png'), fullPage: true });
    const link = page.locator('a.sso[href$="/login/oidc/corp"]');
    assert.equal(await link.textContent(), 'Sign in with Corp SSO');
    const rampartViolations = await page.evaluate(() => window.__violations);
    await link.click();

    await page.waitForURL(`${provider.issuer}/interaction/**`);
    await page.locator('input[name="login"]').fill('grace');
    await page.locator('input[name="password"]').fill('anything');
    await page.screenshot({ path: artifactPath('sso-provider-login.png'), fullPage: true });
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.waitForURL(`${rampart.base}/app`);
    await page.screenshot({ path: artifactPath('sso-app.png'), fullPage: true });
    const me = await page.evaluate(async () => (await fetch('/users/me')).json());
    assert.equal(me.username, 'grace');
    assert.deepEqual(rampartViolations, []);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    assert.deepEqual(seen.dialogs, []);
    await context.close();
  });
});
