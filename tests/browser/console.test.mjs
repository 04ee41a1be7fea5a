// The admin console in a real browser: the overview's numbers and its SVG
// chart, users searched and created, a session ended from a user's page
// (and the browser that held it signed out), a key rotated and revoked
// with its kid typed to confirm, the 403 page for a user who is no admin,
// and the sign-in that returns an anonymous visitor to the console page
// they asked for. Pages need no script: none runs, no CSP rule breaks, no
// error is logged.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { PASSWORD, artifactPath, launchBrowser, signIn, startRampart, token, watch } from './rampart.mjs';

/** How long the audit trail's background writer may take to show an event. */
const DEADLINE_MS = 30_000;

/** Reloads `page` until `check()` is true; `what` names it if it never is. */
async function reloadUntil(page, check, what) {
  const end = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`not seen within ${DEADLINE_MS} ms: ${what}`);
    await page.waitForTimeout(250);
    await page.reload();
  }
}

/** The number a `<dd>` of the overview shows. */
async function number(page, id) {
  const text = (await page.locator(`dd#${id}`).textContent()).trim();
  assert.match(text, /^\d+$/, `#${id} is a number`);
  return Number(text);
}

/**
 * `watch(page)`, with every answer of 400 or above the page had, and the
 * errors logged for the browser's own favicon.ico, which no page names.
 */
async function watchAll(page) {
  const seen = await watch(page);
  seen.refused = [];
  seen.favicon = [];
  page.on('response', (response) => {
    if (response.status() >= 400) seen.refused.push({ status: response.status(), path: new URL(response.url()).pathname });
  });
  page.on('console', (message) => {
    const { url } = message.location();
    if (message.type() === 'error' && url && new URL(url).pathname === '/favicon.ico') seen.favicon.push(message.text());
  });
  return seen;
}

/**
 * What `watchAll` saw on `page` is clean: no dialog, no CSP violation (in
 * the current document too), nothing missing or refused and no error
 * logged, but for favicon.ico and the answers of a form refused on
 * purpose, with one of `statuses`.
 */
async function assertClean(page, seen, statuses = []) {
  assert.deepEqual(seen.refused.filter(({ status }) => !statuses.includes(status)), [], 'nothing missing or refused');
  const errors = [...seen.errors];
  for (const text of seen.favicon) {
    const at = errors.indexOf(text);
    if (at >= 0) errors.splice(at, 1);
  }
  const expected = (text) =>
    statuses.some((status) => text.startsWith(`Failed to load resource: the server responded with a status of ${status} `));
  assert.deepEqual(seen.dialogs, []);
  assert.deepEqual(errors.filter((text) => !expected(text)), []);
  assert.deepEqual(seen.violations, []);
  assert.deepEqual(await page.evaluate(() => window.__violations), []);
  assert.equal(await page.locator('script').count(), 0, 'a console page has no script');
}

/** A new context and page signed in as `username`, watched. */
async function signedIn(browser, base, username) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = await watchAll(page);
  await signIn(page, base, username);
  return { context, page, seen };
}

describe('console', () => {
  let rampart;
  let browser;

  before(async () => {
    rampart = await startRampart();
    rampart.createUser('admin', ['admin']);
    rampart.createUser('alice');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rampart?.stop();
  });

  test('an admin reads the overview: the numbers, the hourly chart, the keys, the storage', async () => {
    // A failed login, through the API, for the numbers to show.
    const refused = await fetch(`${rampart.base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'alice', password: 'not the password' }),
    });
    assert.equal(refused.status, 401);

    const { context, page, seen } = await signedIn(browser, rampart.base, 'admin');
    const response = await page.goto(`${rampart.base}/console`);
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['cache-control'], 'no-store');
    assert.equal(await page.locator('#console-admin').textContent(), 'admin');
    assert.equal(await page.getByRole('link', { name: 'Overview' }).getAttribute('aria-current'), 'page');
    // The audit trail is written in the background: the failed login and
    // the admin's own sign-in show once written.
    await reloadUntil(
      page,
      async () => (await number(page, 'logins-failed')) >= 1 && (await number(page, 'logins-succeeded')) >= 1,
      'a failed and a succeeded login on the overview',
    );
    assert.equal(await number(page, 'users-count'), 2);
    assert.ok((await number(page, 'sessions-count')) >= 1, 'the admin’s own session is open');
    for (const id of ['rate-limited', 'csrf-rejected']) await number(page, id);

    const chart = page.locator('svg#hourly-chart');
    assert.ok(await chart.isVisible(), 'the chart is drawn');
    const box = await chart.boundingBox();
    assert.ok(box.width > 100 && box.height > 30, `the chart has a size: ${JSON.stringify(box)}`);
    const titles = await chart.locator('rect > title').allTextContents();
    assert.ok(titles.some((title) => /UTC: \d+ logins failed$/.test(title)), `a bar of failed logins: ${titles}`);
    assert.ok(titles.some((title) => /UTC: \d+ logins succeeded$/.test(title)), `a bar of logins: ${titles}`);
    assert.equal(await page.locator('#hourly-table tbody tr').count(), 24);
    // The table holds the chart's figures: its failed logins add up to the number.
    const failed = await page.locator('#hourly-table tbody tr td:nth-child(3)').allTextContents();
    assert.equal(failed.reduce((sum, text) => sum + Number(text), 0), await number(page, 'logins-failed'));

    assert.equal(await page.locator('#overview-keys tbody tr').count(), 1);
    assert.match(await page.locator('#database-state').textContent(), /reachable/);
    assert.doesNotMatch(await page.locator('#database-state').textContent(), /unreachable/);
    assert.match(await page.locator('#redis-state').textContent(), /not used/);
    await page.screenshot({ path: artifactPath('console-overview.png'), fullPage: true });
    await assertClean(page, seen);

    // The navigation reaches every page, each marked current in turn.
    for (const [name, path] of [
      ['Users', '/console/users'],
      ['Keys', '/console/keys'],
      ['Audit trail', '/console/audit'],
      ['Overview', '/console'],
    ]) {
      await page.getByRole('link', { name, exact: true }).click();
      await page.waitForURL(`${rampart.base}${path}`);
      assert.equal(await page.getByRole('link', { name, exact: true }).getAttribute('aria-current'), 'page');
      await assertClean(page, seen);
    }

    // Signing out from the console's header ends the session.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${rampart.base}/login`);
    await page.goto(`${rampart.base}/console`);
    assert.equal(page.url(), `${rampart.base}/login?return_to=%2Fconsole`);
    await context.close();
  });

  test('an admin searches the users and creates one, who can then sign in', async () => {
    const { context, page, seen } = await signedIn(browser, rampart.base, 'admin');
    await page.goto(`${rampart.base}/console/users`);
    assert.deepEqual(await page.locator('#users tbody tr td:first-child').allTextContents(), ['admin', 'alice']);
    await page.screenshot({ path: artifactPath('console-users.png'), fullPage: true });

    await page.getByLabel('Name contains').fill('LIC');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(`${rampart.base}/console/users?q=LIC`);
    assert.deepEqual(await page.locator('#users tbody tr td:first-child').allTextContents(), ['alice']);
    assert.equal(await page.locator('#users a').getAttribute('href'), '/console/users/alice');
    await page.getByLabel('Name contains').fill('nobody');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(`${rampart.base}/console/users?q=nobody`);
    assert.ok(await page.locator('#no-users').isVisible());
    await assertClean(page, seen);

    const form = page.locator('#create-user');
    await form.getByLabel('Name', { exact: true }).fill('bob');
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByLabel(/^Roles/).fill('user');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(`${rampart.base}/console/users/bob?said=created`);
    assert.equal(await page.getByRole('status').textContent(), 'User created.');
    assert.equal(await page.locator('#user-roles').textContent(), 'user');
    assert.equal(await page.locator('#user-state').textContent(), 'Enabled');
    assert.ok(await page.locator('#no-credentials').isVisible(), 'no session yet');
    await assertClean(page, seen);
    await context.close();

    // bob signs in with the password the admin gave.
    const bob = await signedIn(browser, rampart.base, 'bob');
    await bob.context.close();
  });

  test('an admin ends a session from the user’s page, and that browser is signed out', async () => {
    const alice = await signedIn(browser, rampart.base, 'alice');
    assert.equal(alice.page.url(), `${rampart.base}/app`);

    const { context, page, seen } = await signedIn(browser, rampart.base, 'admin');
    await page.goto(`${rampart.base}/console/users`);
    await page.getByRole('link', { name: 'alice', exact: true }).click();
    await page.waitForURL(`${rampart.base}/console/users/alice`);
    assert.equal(await page.locator('#user-roles').textContent(), 'user');
    assert.equal(await page.locator('#user-state').textContent(), 'Enabled');
    assert.ok(await page.getByRole('button', { name: 'Disable alice' }).isVisible());
    assert.ok(await page.getByRole('button', { name: 'Reset second factors' }).isVisible());
    assert.equal(await page.locator('#roles').inputValue(), 'user');
    const sessions = page.locator('#credentials tr.credential[data-kind="session"]');
    assert.equal(await sessions.count(), 1, 'alice’s one browser session');
    // Her sign-in, once the audit trail has it.
    await reloadUntil(
      page,
      async () => (await page.locator('#events tbody tr', { hasText: 'login' }).count()) >= 1,
      'alice’s login among her recent events',
    );
    await page.screenshot({ path: artifactPath('console-user.png'), fullPage: true });
    await assertClean(page, seen);

    await sessions.getByRole('button', { name: 'End session' }).click();
    await page.waitForURL(`${rampart.base}/console/users/alice?said=revoked`);
    assert.equal(await page.getByRole('status').textContent(), 'Ended.');
    assert.equal(await page.locator('#credentials tr.credential').count(), 0);
    assert.ok(await page.locator('#no-credentials').isVisible());
    await assertClean(page, seen);

    // alice's browser has lost its session.
    await alice.page.goto(`${rampart.base}/app`);
    assert.equal(alice.page.url(), `${rampart.base}/login`);
    await alice.context.close();
    await context.close();
  });

  test('an admin rotates the signing key, then revokes the old one by typing its kid', async () => {
    // A token the first key signs, to see the revoke take it.
    const bearer = await token(rampart.base, 'alice');
    const items = () => fetch(`${rampart.base}/items/?limit=1`, { headers: { authorization: `Bearer ${bearer}` } });
    assert.equal((await items()).status, 200);

    const { context, page, seen } = await signedIn(browser, rampart.base, 'admin');
    await page.goto(`${rampart.base}/console/keys`);
    const rows = page.locator('#keys tr.key');
    assert.equal(await rows.count(), 1);
    const old = await rows.first().getAttribute('data-kid');
    assert.ok(old, 'the row names its kid');

    await page.getByRole('button', { name: 'Rotate now' }).click();
    await page.waitForURL(`${rampart.base}/console/keys?said=rotated`);
    assert.match(await page.getByRole('status').textContent(), /A new key signs from now on/);
    assert.equal(await rows.count(), 2);
    const kids = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.kid));
    assert.ok(kids.includes(old), 'the old key is still listed');
    assert.equal((await items()).status, 200, 'the old key’s tokens still work');
    await page.screenshot({ path: artifactPath('console-keys.png'), fullPage: true });
    await assertClean(page, seen);

    // A kid typed wrong: refused, nothing revoked.
    const oldRow = () => page.locator(`#keys tr.key[data-kid="${old}"]`);
    const wrong = page.waitForResponse((r) => r.url() === `${rampart.base}/console/keys/revoke`);
    await oldRow().getByLabel(`Type ${old} to revoke it`).fill(`${old}x`);
    await oldRow().getByRole('button', { name: 'Revoke' }).click();
    assert.equal((await wrong).status(), 400);
    await page.waitForURL(`${rampart.base}/console/keys/revoke`);
    assert.match(await page.getByRole('alert').textContent(), /Type the key's kid exactly to confirm: nothing was revoked/);
    assert.equal(await rows.count(), 2);
    assert.equal((await items()).status, 200);
    await assertClean(page, seen, [400]);

    // Typed right: the key is gone, and so is every token it signed.
    await oldRow().getByLabel(`Type ${old} to revoke it`).fill(old);
    await oldRow().getByRole('button', { name: 'Revoke' }).click();
    await page.waitForURL(`${rampart.base}/console/keys?said=key-revoked`);
    assert.match(await page.getByRole('status').textContent(), /Key revoked/);
    assert.equal(await oldRow().count(), 0);
    assert.equal(await rows.count(), 1);
    assert.equal((await items()).status, 401, 'a token of the revoked key is refused');
    await assertClean(page, seen, [400]);
    await context.close();
  });

  test('a user who is no admin gets the 403 page', async () => {
    const { context, page, seen } = await signedIn(browser, rampart.base, 'alice');
    const response = await page.goto(`${rampart.base}/console`);
    assert.equal(response.status(), 403);
    assert.ok(await page.locator('#forbidden').isVisible());
    assert.match(await page.locator('#forbidden').textContent(), /signed in as alice, who is not an admin/);
    assert.equal(await page.getByRole('link', { name: 'Overview' }).count(), 0, 'none of the console');
    await page.screenshot({ path: artifactPath('console-forbidden.png'), fullPage: true });
    await page.getByRole('link', { name: 'Back' }).click();
    await page.waitForURL(`${rampart.base}/app`);
    assert.deepEqual(seen.violations, []);
    await context.close();
  });

  test('an anonymous visitor is sent to sign in, then back to the audit trail, and filters it', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watchAll(page);
    const response = await page.goto(`${rampart.base}/console/audit?outcome=failure`);
    assert.equal(page.url(), `${rampart.base}/login?return_to=%2Fconsole%2Faudit%3Foutcome%3Dfailure`);
    const asked = response.request().redirectedFrom();
    assert.equal(asked.url(), `${rampart.base}/console/audit?outcome=failure`);
    assert.equal((await asked.response()).status(), 303);

    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${rampart.base}/console/audit?outcome=failure`);
    assert.equal(await page.locator('#outcome').inputValue(), 'failure');
    assert.equal(await page.getByRole('link', { name: 'Audit trail' }).getAttribute('aria-current'), 'page');
    await assertClean(page, seen);

    // The admin's own sign-in, found with the filters.
    const filters = page.locator('#audit-filters');
    await filters.getByLabel('Actor').fill('admin');
    await filters.getByLabel('Action').fill('login');
    await filters.getByLabel('Outcome').selectOption('success');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL((url) => url.pathname === '/console/audit' && url.searchParams.get('actor') === 'admin');
    const events = page.locator('#events tbody tr');
    await reloadUntil(page, async () => (await events.count()) >= 1, 'the admin’s login in the audit trail');
    for (const row of await events.all()) {
      const cells = await row.locator('td').allTextContents();
      assert.deepEqual([cells[2], cells[3], cells[5]], ['admin', 'login', 'success']);
    }
    assert.equal(await page.locator('#older').count(), 0, 'one page of events');
    await page.screenshot({ path: artifactPath('console-audit.png'), fullPage: true });
    await assertClean(page, seen);

    // A bad time is said on the page.
    await filters.getByLabel(/^Since/).fill('yesterday');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL((url) => url.searchParams.get('since') === 'yesterday');
    assert.match(await page.getByRole('alert').textContent(), /Since: a date and time/);
    await assertClean(page, seen, [400]);
    await context.close();
  });
});
