// The harness of the browser tests: starts the real `rampart` binary on
// 127.0.0.1 port 0 with a temporary SQLite file, creates users with its
// command line, serves pages from other local origins, and launches
// Debian's Chromium through Playwright.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const BINARY = process.env.RAMPART_BIN ?? path.join(ROOT, 'target/debug/rampart');
export const ARTIFACTS = path.join(ROOT, 'test-artifacts/browser');
export const PASSWORD = 'correct horse battery';

function environment(dir, extra) {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RAMPART_BIND: '127.0.0.1:0',
    RAMPART_ADMIN_BIND: '127.0.0.1:0',
    RAMPART_DATABASE_URL: `sqlite://${dir}/rampart.db`,
    RAMPART_SECRET_KEY: randomBytes(32).toString('hex'),
    // A person clicks far less often than a test.
    RAMPART_RATE_LIMIT__DEFAULT: '100000/minute',
    RAMPART_RATE_LIMIT__LOGIN: '100000/minute',
    ...extra,
  };
}

/** A running `rampart serve`; `stop()` ends it. `toml`: its `rampart.toml`. */
export async function startRampart(extraEnv = {}, toml = null) {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-browser-'));
  if (toml) writeFileSync(path.join(dir, 'rampart.toml'), toml);
  const env = environment(dir, extraEnv);
  const child = spawn(BINARY, ['serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(chunk));
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rampart did not start: ${Buffer.concat(stderr)}`)), 30_000);
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const event = JSON.parse(line);
        if (event.message === 'listening') {
          clearTimeout(timer);
          resolve(event.addr);
        }
      } catch {
        // Not JSON: ignore.
      }
    });
    child.on('exit', (code) => reject(new Error(`rampart exited ${code}: ${Buffer.concat(stderr)}`)));
  });
  return {
    base: `http://${addr}`,
    /** What the server printed on stderr so far. */
    stderr: () => Buffer.concat(stderr).toString(),
    createUser(username, roles = ['user']) {
      const args = ['user', 'create', '--username', username, ...roles.flatMap((r) => ['--role', r])];
      const result = spawnSync(BINARY, args, { cwd: dir, env, input: `${PASSWORD}\n` });
      if (result.status !== 0) throw new Error(`user create ${username}: ${result.stderr}`);
    },
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTP server on 127.0.0.1 (its own origin) answering every GET with `html`. */
export async function servePage(html) {
  const server = http.createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Debian's Chromium, headless, with nothing that reaches the network. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A bearer token for `username`, to check through the API what the pages did. */
export async function token(base, username) {
  const response = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password: PASSWORD }),
  });
  if (response.status !== 200) throw new Error(`token for ${username}: ${response.status}`);
  return (await response.json()).access_token;
}

export async function itemNames(base, username) {
  const response = await fetch(`${base}/items/?limit=100`, {
    headers: { authorization: `Bearer ${await token(base, username)}` },
  });
  return (await response.json()).items.map((item) => item.name);
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

/** Signs in through the form, as a person would. */
export async function signIn(page, base, username) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/app`);
}

/**
 * Records what a page should never do: open dialogs (a script ran), break
 * its CSP (console and `securitypolicyviolation` events, the latter read
 * with `page.evaluate(() => window.__violations)`), or log an error.
 */
export async function watch(page) {
  const seen = { dialogs: [], violations: [], errors: [] };
  page.on('dialog', async (dialog) => {
    seen.dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) seen.violations.push(message.text());
    if (message.type() === 'error') seen.errors.push(message.text());
  });
  page.on('pageerror', (error) => seen.errors.push(String(error)));
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener('securitypolicyviolation', (event) =>
      window.__violations.push(`${event.violatedDirective}: ${event.blockedURI}`),
    );
  });
  return seen;
}

/** A free port on 127.0.0.1, for a server whose address must be known before it starts. */
export async function freePort() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The OpenID provider of the single sign-on tests (tests/oidc/provider.mjs:
 * panva's oidc-provider), with `clients`; `accounts` is what it says of each
 * login. `stop()` ends it.
 */
export async function startProvider(clients, accounts) {
  const dir = mkdtempSync(path.join(tmpdir(), 'rampart-oidc-'));
  const accountsFile = path.join(dir, 'accounts.json');
  writeFileSync(accountsFile, JSON.stringify(accounts));
  const oidcDir = path.join(ROOT, 'tests/oidc');
  const child = spawn('node', [path.join(oidcDir, 'provider.mjs')], {
    cwd: oidcDir,
    env: { ...process.env, OIDC_CLIENTS: JSON.stringify(clients), OIDC_ACCOUNTS: accountsFile },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const issuer = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve(JSON.parse(line).issuer));
    child.on('exit', (code) => reject(new Error(`the provider exited ${code}`)));
  });
  return {
    issuer,
    stop() {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
