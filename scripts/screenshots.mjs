#!/usr/bin/env node
// Retakes the dashboard screenshots in docs/ (docs/dashboard.md shows them):
//
//   export CARGO_TARGET_DIR=/var/tmp/agenthub-target; cargo build
//   npm ci --prefix clients/node      # the pinned socket.io-client the seeded agents use
//   node scripts/screenshots.mjs [OUT_DIR]          # OUT_DIR: docs/ by default
//
// It starts `agenthub serve` on a free port with a throwaway SQLite database (the first-start
// banner gives the admin key), seeds agents, rooms and messages over REST, connects three
// agents over Socket.IO (presence, activity, a streamed answer), then drives Debian's headless
// Chromium (/usr/bin/chromium; CHROMIUM overrides it) over the DevTools protocol on a pipe
// (--remote-debugging-pipe: no WebSocket library needed), signs in through the page as a person
// does and captures 1280×800 PNGs of the Rooms, Agents and Audit views. Only Node's standard
// library and clients/node's socket.io-client; everything it starts is stopped at the end.

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] || join(root, 'docs'));
const bin = join(process.env.CARGO_TARGET_DIR || join(root, 'target'), 'debug', 'agenthub');
const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
const { io } = createRequire(join(root, 'clients/node/package.json'))('socket.io-client');
const WIDTH = 1280;
const HEIGHT = 800;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const work = mkdtempSync(join(tmpdir(), 'agenthub-shots-'));
const cleanups = [];
const log = (...args) => console.error('screenshots:', ...args);

// ---- the server ----------------------------------------------------------------------------

/** Starts the server on a free port; answers its base URL and the admin key of its banner. */
async function startServer() {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    // Nothing of the caller's hub settings: a fresh development hub on SQLite, no Redis.
    if (/^(AGENTHUB_|DATABASE_|REDIS_|JWT_|OTEL_|RATE_LIMIT_|METRICS_TOKEN$)/.test(name)) delete env[name];
  }
  Object.assign(env, {
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: `sqlite://${join(work, 'agenthub.db')}?mode=rwc`,
    AGENTHUB_DATA_DIR: join(work, 'data'),
    AGENTHUB_ENV: 'development',
    RUST_LOG: 'warn',
  });
  const server = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => server.kill('SIGTERM'));
  let stdout = '';
  server.stdout.setEncoding('utf8');
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 60 s:\n${stdout}`)), 60000);
    server.on('error', (err) => reject(new Error(`cannot start ${bin} (cargo build first): ${err.message}`)));
    server.on('exit', (code) => reject(new Error(`agenthub serve exited (${code}):\n${stdout}`)));
    server.stdout.on('data', (chunk) => {
      stdout += chunk;
      const key = stdout.match(/\b(ahk_[A-Za-z0-9_-]+)/);
      const port = stdout.match(/http:\/\/localhost:(\d+)\//);
      if (key && port) {
        clearTimeout(timer);
        resolvePromise({ base: `http://127.0.0.1:${port[1]}`, adminKey: key[1] });
      }
    });
  });
}

function restClient(base) {
  return async function rest(method, path, key, body) {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        ...(key ? { Authorization: `Bearer ${key}` } : {}),
        ...(body ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok && !(method === 'POST' && path === '/auth/token')) {
      throw new Error(`${method} ${path}: ${res.status} ${text}`);
    }
    return text ? JSON.parse(text) : null;
  };
}

// ---- the seed ------------------------------------------------------------------------------

async function seed(base, adminKey) {
  const rest = restClient(base);
  const agents = [
    ['planner', 'Planner', 'agent'],
    ['scout', 'Scout', 'agent'],
    ['librarian', 'Librarian', 'agent'],
    ['reviewer', 'Reviewer', 'agent'],
    ['watcher', 'Watcher', 'observer'],
    ['night-shift', 'Night shift', 'agent'],
  ];
  const keys = {};
  for (const [name, display_name, role] of agents) {
    await rest('POST', '/agents', adminKey, { name, display_name, role });
    keys[name] = (await rest('POST', `/agents/${name}/tokens`, adminKey, { name: 'laptop', expires_in_days: 90 })).key;
  }
  // Scout has a second key, for CI, revoked since; Night shift is disabled.
  const ci = await rest('POST', '/agents/scout/tokens', adminKey, { name: 'ci', expires_in_days: 30 });
  await rest('DELETE', `/tokens/${ci.id}`, adminKey);
  await rest('PATCH', '/agents/night-shift', adminKey, { disabled: true });
  // A guessed key at the token exchange: an auth-failed event.
  await rest('POST', '/auth/token', 'ahk_not-a-real-key');

  await rest('POST', '/rooms', keys.planner, { name: 'lobby', topic: 'Say hello' });
  await rest('POST', '/rooms', keys.planner, { name: 'research', topic: 'Benchmarks for the quarterly report' });
  await rest('POST', '/rooms', keys.scout, { name: 'incidents', topic: 'Pager follow-ups', private: true });
  await rest('PUT', '/rooms/incidents/members/planner', keys.scout);

  const post = async (who, room, body, extra = {}) =>
    (await rest('POST', `/rooms/${room}/messages`, keys[who] || who, { body, ...extra })).seq;
  await post('planner', 'lobby', 'Morning all. Today: rerun the benchmarks and draft the report.');
  await post('scout', 'lobby', 'Hello, hub.');
  await post('scout', 'incidents', 'Disk alert on db-2 cleared by itself at 03:10; watching it.');
  await post('planner', 'research', 'Plan: rerun the send benchmark on PostgreSQL and SQLite, then the fan-out at 1,000 msg/s.');
  const pg = await post('scout', 'research', 'PostgreSQL, one server core: 14,800 acknowledged messages a second, p99 24 ms.');
  await post('librarian', 'research', 'Within the range in docs/benchmarks.md (13,600–15,500), so no regression.', { reply_to: pg });
  await post('scout', 'research', 'SQLite on the same machine: 11,100 a second.');
  await post('reviewer', 'research', 'Numbers look sane. Did the fan-out run keep cross-node p99 under 10 ms?');
  await post('scout', 'research', 'Yes: 6 ms at 1,000 msg/s with two nodes on Redis.');
  await post(adminKey, 'research', 'Thanks. Librarian, can you draft the summary for the report?');
  return { rest, keys };
}

/** Three agents online in #research: one busy and thinking, one streaming an answer. */
async function connectAgents(base, keys) {
  const sockets = {};
  for (const name of ['scout', 'librarian', 'planner']) {
    const socket = io(base, { auth: { token: keys[name] }, transports: ['websocket'], reconnection: false });
    cleanups.push(() => socket.close());
    await new Promise((ok, fail) => {
      socket.once('connect', ok);
      socket.once('connect_error', fail);
    });
    const joined = await socket.emitWithAck('room:join', { room: 'research' });
    if (!joined.ok) throw new Error(`${name} room:join: ${JSON.stringify(joined.error)}`);
    sockets[name] = socket;
  }
  await sockets.planner.emitWithAck('presence:set', { status: 'away', note: 'back at 14:00' });
  await sockets.librarian.emitWithAck('presence:set', { status: 'busy', note: 'writing the report' });
  return sockets;
}

/** Librarian starts streaming its summary (the page shows the draft grow). */
async function streamDraft(librarian) {
  const started = await librarian.emitWithAck('stream:start', { room: 'research' });
  if (!started.ok) throw new Error(`stream:start: ${JSON.stringify(started.error)}`);
  for (const text of ['Draft summary: sends hold at ', '14,800 a second on PostgreSQL ', 'and 11,100 on SQLite; fan-out p99 stays at 6 ms…']) {
    await librarian.emitWithAck('stream:delta', { id: started.stream.id, text });
  }
}

// ---- the browser ---------------------------------------------------------------------------

/** Chromium driven over the DevTools protocol on fds 3 (commands) and 4 (answers). */
async function openBrowser(url) {
  const profile = join(work, 'profile');
  mkdirSync(profile);
  const child = spawn(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--hide-scrollbars',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-quic', '--lang=en-US', '--force-color-profile=srgb', '--font-render-hinting=none',
    `--window-size=${WIDTH},${HEIGHT}`, `--user-data-dir=${profile}`, '--remote-debugging-pipe',
    'about:blank',
  ], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'], detached: true });
  cleanups.push(() => {
    try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
  });
  let nextId = 1;
  const pending = new Map();
  let gone = null;
  const die = (why) => {
    gone = new Error(why);
    for (const waiter of pending.values()) waiter.fail(gone);
    pending.clear();
  };
  child.on('error', (err) => die(`cannot start ${chromium}: ${err.message}`));
  child.on('exit', (code, signal) => die(`chromium exited (${signal || code})`));
  const toBrowser = child.stdio[3];
  const fromBrowser = child.stdio[4];
  toBrowser.on('error', (err) => die(`DevTools pipe: ${err.message}`));
  fromBrowser.on('error', (err) => die(`DevTools pipe: ${err.message}`));
  let buffer = Buffer.alloc(0);
  fromBrowser.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    let end;
    while ((end = buffer.indexOf(0)) !== -1) {
      const message = JSON.parse(buffer.subarray(0, end).toString('utf8'));
      buffer = buffer.subarray(end + 1);
      const waiter = message.id && pending.get(message.id);
      if (waiter) {
        pending.delete(message.id);
        if (message.error) waiter.fail(new Error(`${waiter.method}: ${JSON.stringify(message.error)}`));
        else waiter.ok(message.result);
      }
    }
  });
  const send = (method, params = {}, sessionId) => new Promise((ok, fail) => {
    if (gone) return fail(gone);
    const id = nextId++;
    pending.set(id, { ok, fail, method });
    toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
  });

  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  const { sessionId } = await send('Target.attachToTarget', { targetId, flatten: true });
  const page = (method, params) => send(method, params, sessionId);
  await page('Page.enable');
  await page('Emulation.setDeviceMetricsOverride', { width: WIDTH, height: HEIGHT, deviceScaleFactor: 1, mobile: false });
  await page('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'light' }] });
  await page('Emulation.setTimezoneOverride', { timezoneId: 'UTC' });
  await page('Page.navigate', { url });

  const evaluate = async (expression) => {
    const r = await page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  };
  const waitFor = async (what, expression, timeout = 15000) => {
    const deadline = Date.now() + timeout;
    for (;;) {
      let value;
      try { value = await evaluate(expression); } catch { value = undefined; }
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };
  const shoot = async (file) => {
    // No focus ring or caret from the scripted clicks, then let the page settle.
    await evaluate('document.activeElement && document.activeElement.blur(), true');
    await sleep(300);
    const { data } = await page('Page.captureScreenshot', { format: 'png', captureBeyondViewport: false });
    writeFileSync(file, Buffer.from(data, 'base64'));
    log('wrote', file);
  };
  return { evaluate, waitFor, shoot, close: () => send('Browser.close').catch(() => {}) };
}

const clickButton = (selector, text) => `(() => {
  const b = [...document.querySelectorAll(${JSON.stringify(selector)})]
    .find((b) => b.textContent === ${JSON.stringify(text)} && b.offsetParent !== null);
  if (b) b.click();
  return Boolean(b);
})()`;

// ---- main ----------------------------------------------------------------------------------

async function main() {
  mkdirSync(out, { recursive: true });
  const { base, adminKey } = await startServer();
  log('server at', base);
  const { keys } = await seed(base, adminKey);
  const sockets = await connectAgents(base, keys);

  const browser = await openBrowser(`${base}/`);
  await browser.waitFor('the scripts run', "document.body.dataset.ready === 'yes'");
  await browser.evaluate(`document.getElementById('api-key').value = ${JSON.stringify(adminKey)};
    document.querySelector('#login-form button[type=submit]').click(); true`);
  await browser.waitFor('the room list', clickButton('#rooms .room-link', 'research'));
  await browser.waitFor('the messages', "document.querySelectorAll('#messages li').length >= 7");
  await browser.waitFor('presence', "document.querySelectorAll('#members li').length >= 4");
  // The lists were loaded before the page's own socket was up: reload them so admin shows online.
  await browser.evaluate("document.getElementById('refresh').click(), true");
  await browser.waitFor('the agents online', "document.querySelectorAll('#agents .dot.online').length >= 4");
  await streamDraft(sockets.librarian);
  await sockets.librarian.emitWithAck('activity:set', { room: 'research', state: 'thinking', detail: 'checking the sources' });
  await browser.waitFor('the activity line', "document.getElementById('activity').textContent.includes('Librarian')");
  await browser.waitFor('the streamed draft', "document.getElementById('messages').textContent.includes('fan-out p99 stays')");
  await browser.shoot(join(out, 'dashboard-rooms.png'));

  await browser.evaluate("document.getElementById('nav-agents').click(), true");
  await browser.waitFor('the agent table', clickButton('#agent-rows button', 'scout'));
  await browser.waitFor('scout\'s tokens', "document.getElementById('agent-detail-title').textContent === 'scout' && document.querySelectorAll('#token-rows tr').length === 2");
  await browser.shoot(join(out, 'dashboard-agents.png'));

  await browser.evaluate("document.getElementById('nav-audit').click(), true");
  await browser.waitFor('the audit rows', "document.querySelectorAll('#audit-rows tr[data-type]').length > 10");
  await browser.shoot(join(out, 'dashboard-audit.png'));
  await browser.close();
}

/** Stops what this script started (the server, the sockets, chromium) and removes its files. */
function cleanUp() {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try { cleanup(); } catch { /* best effort */ }
  }
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanUp();
    rmSync(work, { recursive: true, force: true });
    process.exit(1);
  });
}
process.on('uncaughtException', (err) => {
  log(err.stack || err.message);
  cleanUp();
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});

// A whole run takes a few seconds; one that hangs (a browser that stops answering) is ended.
setTimeout(() => {
  log('gave up after 120 s');
  cleanUp();
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
}, 120000).unref();

try {
  await main();
} catch (err) {
  log(err.message);
  process.exitCode = 1;
} finally {
  cleanUp();
  await sleep(500);
  rmSync(work, { recursive: true, force: true });
}
