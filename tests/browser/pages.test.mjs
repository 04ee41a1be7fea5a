// rampart's pages in a real browser: the login form, the app page, stored
// XSS under the CSP, CORS seen from other origins, and cross-site forms.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
  artifactPath,
  itemNames,
  launchBrowser,
  servePage,
  signIn,
  startRampart,
  watch,
} from './rampart.mjs';

describe('pages', () => {
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

  test('a person signs in, adds an item, sees it, and signs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);

    await page.goto(`${rampart.base}/login`);
    await page.screenshot({ path: artifactPath('login.png'), fullPage: true });
    // The keyboard reaches the form in order: name, password, button.
    await page.getByLabel('Username').focus();
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('correct horse battery');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${rampart.base}/app`);

    await page.getByLabel('Name').fill('Desk lamp');
    await page.getByLabel(/Description/).fill('A <b>bright</b> lamp');
    await page.getByLabel('Price').fill('24.5');
    await page.getByLabel(/Tax/).fill('2');
    await page.getByRole('button', { name: 'Add item' }).click();
    await page.waitForURL(`${rampart.base}/app`);
    const item = page.locator('article.item', { hasText: 'Desk lamp' });
    assert.equal(await item.count(), 1);
    assert.equal(await item.locator('.description b').textContent(), 'bright');
    await page.screenshot({ path: artifactPath('app.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${rampart.base}/login`);
    await page.goto(`${rampart.base}/app`);
    assert.equal(page.url(), `${rampart.base}/login`, 'signed out: /app sends to /login');

    assert.deepEqual(seen.dialogs, []);
    assert.deepEqual(seen.violations, []);
    assert.deepEqual(await itemNames(rampart.base, 'alice'), ['Desk lamp']);
    await context.close();
  });

  test('stored XSS shown on /app runs no script and breaks no CSP rule', async () => {
    const payloads = [
      '<script>alert("script")</script>',
      '<img src=x onerror=alert("img")>',
      '<svg onload=alert("svg")></svg>',
      '<a href="javascript:alert(\'link\')">click me</a>',
      '<iframe src="javascript:alert(\'frame\')"></iframe>',
      '<p style="background:url(javascript:alert(1))" onmouseover=alert("hover")>hover</p>',
      '<details open ontoggle=alert("toggle")>',
      '<math><mtext><table><mglyph><style><img src=x onerror=alert("mxss")></style></mglyph></table></mtext></math>',
    ];
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);
    await signIn(page, rampart.base, 'alice');
    for (const [n, payload] of payloads.entries()) {
      await page.getByLabel('Name').fill(`payload ${n}`);
      await page.getByLabel(/Description/).fill(payload);
      await page.getByLabel('Price').fill('1');
      await page.getByRole('button', { name: 'Add item' }).click();
      await page.waitForURL(`${rampart.base}/app`);
    }
    await page.reload();
    // Give any event handler that survived every chance to fire.
    await page.locator('a', { hasText: 'click me' }).click().catch(() => {});
    await page.locator('p', { hasText: 'hover' }).hover().catch(() => {});
    await page.waitForLoadState('networkidle');

    assert.deepEqual(seen.dialogs, [], 'no script ran');
    assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violation');
    assert.deepEqual(seen.violations, []);
    const html = await page.content();
    assert.ok(!/onerror|onload|ontoggle|onmouseover|javascript:/i.test(html), 'no handler or javascript: URL on the page');
    await context.close();
  });
});

describe('from other origins', () => {
  let rampart;
  let browser;
  let allowed;
  let foreign;

  before(async () => {
    const probe = `<!doctype html><title>other origin</title>`;
    allowed = await servePage(probe);
    foreign = await servePage(probe);
    rampart = await startRampart({ RAMPART_CORS__ALLOW_ORIGINS: allowed.origin });
    rampart.createUser('alice');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rampart?.stop();
    await allowed?.close();
    await foreign?.close();
  });

  test('a page reads API responses only when its origin is allowed', async () => {
    const read = async (origin) => {
      const page = await browser.newPage();
      await page.goto(origin);
      const result = await page.evaluate(async (url) => {
        try {
          const response = await fetch(url, { credentials: 'include' });
          return { ok: true, body: await response.json() };
        } catch (error) {
          return { ok: false, error: String(error) };
        }
      }, `${rampart.base}/`);
      await page.close();
      return result;
    };
    assert.deepEqual(await read(allowed.origin), { ok: true, body: { message: 'Hello World' } });
    const refused = await read(foreign.origin);
    assert.equal(refused.ok, false, 'the browser withholds the response');
    assert.match(refused.error, /TypeError/);
  });

  test('a form posted from another origin creates nothing', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, rampart.base, 'alice');
    const attack = (action) => `<!doctype html>
      <form method="post" action="${rampart.base}${action}">
        <input name="name" value="forged ${action}"><input name="price" value="1">
        <input name="csrf_token" value="guessed.token">
      </form>
      <script>document.forms[0].submit()</script>`;
    for (const action of ['/items/', '/app/items']) {
      const evil = await servePage(attack(action));
      const response = page.waitForResponse((r) => r.url() === `${rampart.base}${action}`);
      await page.goto(evil.origin);
      // Refused for where it comes from: the browser did send the session
      // cookie (127.0.0.1 is one site, whatever the port).
      const answer = await response;
      assert.equal(answer.status(), 403, `${action}`);
      assert.match(await answer.text(), /Cross-site request refused/);
      await evil.close();
    }
    assert.deepEqual(await itemNames(rampart.base, 'alice'), []);
    // The same form from rampart's own page works: the session was live.
    await page.goto(`${rampart.base}/app`);
    await page.getByLabel('Name').fill('mine');
    await page.getByLabel('Price').fill('1');
    await page.getByRole('button', { name: 'Add item' }).click();
    await page.waitForURL(`${rampart.base}/app`);
    assert.deepEqual(await itemNames(rampart.base, 'alice'), ['mine']);
    await context.close();
  });
});
