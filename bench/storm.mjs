#!/usr/bin/env node
// Restart storm: how long N stock socket.io-client sockets from one host take to be back in
// their rooms after the server is restarted (SIGTERM, then a new process on the same port),
// with a REST producer posting throughout; and whether anything acknowledged went missing.
//
//   node bench/storm.mjs --bin target/release/agenthub [--sockets 2000] [--rooms 20]
//                        [--rate 50] [--database-url postgres://…] [--server-cpu 0]
//
// Prints one JSON line. The sockets use the library's default reconnection settings (backoff
// starting at 1 s ± 50 %), rejoin with `since` on `connect` and dedupe by seq, like the
// example agents. Runs the server pinned to --server-cpu with taskset when given.

import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const require = createRequire(resolve("clients/node/package.json"));
const { io } = require("socket.io-client");

const { values: args } = parseArgs({
  options: {
    bin: { type: "string" },
    sockets: { type: "string", default: "2000" },
    rooms: { type: "string", default: "20" },
    rate: { type: "string", default: "50" },
    "database-url": { type: "string" },
    "server-cpu": { type: "string" },
    port: { type: "string", default: "3917" },
  },
});
if (!args.bin) {
  console.error("usage: node bench/storm.mjs --bin PATH [--sockets N] [--rooms N] [--rate MSGS_PER_S]");
  process.exit(2);
}
const N = Number(args.sockets), ROOMS = Number(args.rooms), RATE = Number(args.rate);
const PORT = Number(args.port);
const BASE = `http://127.0.0.1:${PORT}`;
const dir = mkdtempSync(join(tmpdir(), "ahstorm-"));
const env = {
  PATH: process.env.PATH, HOST: "127.0.0.1", PORT: String(PORT), RUST_LOG: "warn",
  JWT_SECRET: "storm-secret-0123456789abcdef0123456789",
  DATABASE_URL: args["database-url"] ?? `sqlite://${dir}/hub.db?mode=rwc`,
  MAX_SOCKETS_PER_AGENT: "20", RATE_LIMIT_REST_AUTH_PER_MIN: "1000000",
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startServer(readBanner) {
  const cmd = args["server-cpu"] ? "taskset" : args.bin;
  const argv = args["server-cpu"] ? ["-c", args["server-cpu"], args.bin, "serve"] : ["serve"];
  const child = spawn(cmd, argv, { cwd: dir, env, stdio: ["ignore", "pipe", "inherit"] });
  const banner = new Promise((res) => {
    let text = "";
    child.stdout.on("data", (d) => {
      text += d;
      const m = text.match(/ahk_[A-Za-z0-9_-]{43}/);
      if (m && readBanner) res(m[0]);
    });
  });
  return { child, banner };
}

async function until(what, check, limitMs = 60_000, everyMs = 20) {
  const start = Date.now();
  for (;;) {
    try { if (await check()) return Date.now(); } catch { /* not yet */ }
    if (Date.now() - start > limitMs) throw new Error(`timed out: ${what}`);
    await sleep(everyMs);
  }
}
const ready = () => until("readyz", async () => (await fetch(`${BASE}/readyz`)).status === 200);

async function rest(method, path, key, body) {
  const res = await fetch(`${BASE}/api/v1${path}`, {
    method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: body ? JSON.stringify(body) : undefined, signal: AbortSignal.timeout(3000),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

let server = startServer(true);
const admin = await server.banner;
await ready();
const agents = Math.ceil(N / 20);
const keys = [];
for (let a = 0; a < agents; a++) {
  await rest("POST", "/agents", admin, { name: `storm${a}` });
  keys.push((await rest("POST", `/agents/storm${a}/tokens`, admin, {})).key);
}
await rest("POST", "/agents", admin, { name: "producer" });
const producerKey = (await rest("POST", "/agents/producer/tokens", admin, {})).key;
for (let r = 0; r < ROOMS; r++) await rest("POST", "/rooms", producerKey, { name: `storm-r${r}` });

// The sockets: each in one room, rejoining with since on every connect.
const sockets = [];
let serverRefusals = 0;
for (let i = 0; i < N; i++) {
  const room = `storm-r${i % ROOMS}`;
  const s = { room, seen: new Set(), last: 0, joinedAt: 0, connects: 0 };
  s.socket = io(BASE, { auth: { token: keys[i % agents] }, transports: ["websocket"] });
  // `last`: every seq up to it was seen (not the highest: seqs can arrive out of order).
  const see = (m) => { if (m.room === room) { s.seen.add(m.seq); while (s.seen.has(s.last + 1)) s.last++; } };
  s.socket.on("message:new", see);
  s.socket.on("connect_error", () => { if (!s.socket.active) serverRefusals++; });
  s.socket.on("connect", async () => {
    s.connects++;
    const generation = s.connects;
    const ack = await s.socket.timeout(10_000).emitWithAck("room:join", { room, since: s.last }).catch(() => null);
    if (ack?.ok && generation === s.connects) { ack.missed.forEach(see); s.joinedAt = Date.now(); }
  });
  s.socket.on("disconnect", () => { s.joinedAt = 0; });
  sockets.push(s);
}
await until("all joined", () => sockets.every((s) => s.joinedAt > 0), 120_000, 50);

// The producer: RATE posts per second over REST, each retried with its client_id until acked.
const acked = new Map(); // room -> Map(seq -> body)
let producing = true, n = 0;
const producer = (async () => {
  while (producing) {
    const room = `storm-r${n % ROOMS}`, body = `m${n}`;
    for (;;) {
      try {
        const m = await rest("POST", `/rooms/${room}/messages`, producerKey, { body, client_id: body });
        if (!acked.has(room)) acked.set(room, new Map());
        acked.get(room).set(m.seq, body);
        break;
      } catch { await sleep(100); }
    }
    n++;
    await sleep(1000 / RATE);
  }
})();

await sleep(2000);
const sigterm = Date.now();
server.child.kill("SIGTERM");
await new Promise((r) => server.child.once("exit", r));
const exited = Date.now();
server = startServer(false);
const readyAt = await ready();
const backAt = await until("all back", () => sockets.every((s) => s.joinedAt > 0 && s.connects >= 2), 120_000, 10);
await sleep(2000);
producing = false;
await producer;
await sleep(1000);

let missing = 0;
for (const s of sockets) {
  for (const seq of (acked.get(s.room) ?? new Map()).keys()) if (!s.seen.has(seq)) missing++;
}
const joinTimes = sockets.map((s) => s.joinedAt - readyAt).sort((a, b) => a - b);
const pct = (p) => joinTimes[Math.min(joinTimes.length - 1, Math.floor((p / 100) * joinTimes.length))];
console.log(JSON.stringify({
  scenario: "storm", sockets: N, rooms: ROOMS, rest_msgs_per_s: RATE,
  drain_ms: exited - sigterm, restart_to_ready_ms: readyAt - exited,
  all_back_after_ready_ms: backAt - readyAt, all_back_after_sigterm_ms: backAt - sigterm,
  back_after_ready_p50_ms: pct(50), back_after_ready_p99_ms: pct(99),
  acknowledged: [...acked.values()].reduce((a, m) => a + m.size, 0), missing, server_refusals: serverRefusals,
}));
for (const s of sockets) s.socket.close();
server.child.kill("SIGTERM");
await new Promise((r) => server.child.once("exit", r));
process.exit(missing === 0 && serverRefusals === 0 ? 0 : 1);
