// One set of docs with a gateway (SPEC section 6, "Gateway, continued"):
// Swagger UI at `/auth/docs` shows rampart's routes and a FastAPI app's,
// and after "Authorize" (rampart's OAuth2 password flow) calls the app's
// route through the gateway, as a person would.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { artifactPath, freePort, launchBrowser, startRampart, watch } from './rampart.mjs';

const ROOT = path.resolve(import.meta.dirname, '../..');
const VENV = path.join(ROOT, 'target/gateway-venv');

/** The recording FastAPI app of the gateway tests, under uvicorn. */
async function startUpstream() {
  const made = spawnSync(
    path.join(ROOT, 'scripts/python-venv'),
    [VENV, path.join(ROOT, 'tests/gateway/requirements.txt')],
    { stdio: 'inherit' },
  );
  if (made.status !== 0) throw new Error('making the gateway venv failed');
  const port = await freePort();
  const child = spawn(
    path.join(VENV, 'bin/uvicorn'),
    ['--app-dir', path.join(ROOT, 'tests/gateway'), 'upstream:app', '--host', '127.0.0.1', '--port', String(port)],
    { stdio: 'ignore', env: { PATH: process.env.PATH, PYTHONDONTWRITEBYTECODE: '1' } },
  );
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${origin}/openapi.json`)).ok) break;
    } catch {
      // Not up yet.
    }
    if (Date.now() > deadline) throw new Error('uvicorn did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { origin, stop: () => child.kill('SIGKILL') };
}

describe('docs with a gateway', () => {
  let upstream;
  let rampart;
  let browser;

  before(async () => {
    upstream = await startUpstream();
    rampart = await startRampart(
      {},
      `[gateway]\nupstream = "${upstream.origin}"\nopenapi = "/openapi.json"\nown_prefix = "/auth"\n`,
    );
    rampart.createUser('alice');
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    rampart?.stop();
    upstream?.stop();
  });

  test("after Authorize, Swagger UI calls the upstream's route through rampart", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = await watch(page);
    await page.goto(`${rampart.base}/auth/docs`);
    const reports = page
      .locator('.opblock-get')
      .filter({ has: page.locator('.opblock-summary-path[data-path="/reports"]') });
    await reports.waitFor();
    await page.locator('.opblock-summary-path[data-path="/auth/token"]').first().waitFor();

    await page.locator('button.authorize').first().click();
    await page.locator('#oauth_username').fill('alice');
    await page.locator('#oauth_password').fill('correct horse battery');
    await page.locator('.auth-container button.authorize').click();
    await page.locator('.auth-container button', { hasText: 'Logout' }).waitFor();
    await page.locator('button.btn-done').click();

    // "Try it out" is on from the start (the docs' configuration).
    await reports.locator('.opblock-summary-control').click();
    const execute = reports.getByRole('button', { name: 'Execute' });
    await execute.click();
    const status = reports.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor();
    assert.equal((await status.textContent()).trim(), '200');
    const body = await reports.locator('.live-responses-table tr.response .response-col_description pre').first().textContent();
    assert.match(body, /q1/);
    await page.screenshot({ path: artifactPath('gateway-docs.png'), fullPage: false });
    assert.deepEqual(seen.violations, []);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    await context.close();
  });
});
