#!/usr/bin/env node
// TEST TOOLING, not an example to copy (agent.mjs is the example): a fleet of stock
// socket.io-client sockets that the integration tests run as a process across server restarts
// and rolling deploys, to prove that clients with DEFAULT reconnection settings come back by
// themselves. There is no application retry code on purpose: the library must do it all.
//
//   node fleet.mjs --plan FILE
//   FILE: {"url","sockets":[{"key","transport":"websocket"|"polling","rooms":[…],"flood"?:bool}],
//          "producer":null|{"key","room","interval_ms","prefix","transport"?: default websocket}}
//
// On every `connect` each socket rejoins its rooms with `since` = the seq up to which it has
// every message there (gap-free) and keeps per room seq -> body (same body again: a duplicate, counted; another body: a
// conflict). stdout is JSON lines: ready, connect_error, reconnect_error, disconnect,
// reconnected, join_error, report (socket -1 is the producer). stdin: `report`; `stop` or EOF
// disconnects everything and exits 0. A bad plan exits 2. A socket with "flood": true sends
// 1,000 events without acks right after its first joins (to be kicked for flooding).
//
// Two kinds of connect_error are kept apart, by what the library does next:
//  - connect_errors: the server refused the Socket.IO connect (CONNECT_ERROR packet, e.g.
//    "unauthorized", "Invalid namespace"); socket.active is false: the library gives up.
//  - reconnect_errors: an attempt to open the transport failed ("xhr poll error", "websocket
//    error", "timeout"), e.g. while the server restarts; the library keeps retrying.

import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const JOIN_TIMEOUT_MS = 5_000;
const SEND_TIMEOUT_MS = 3_000;
const MAX_SEND_ERRORS = 100;

const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function fail(message) {
  process.stderr.write(`fleet.mjs: ${message}\n`);
  process.exit(2);
}

function loadPlan() {
  const i = process.argv.indexOf("--plan");
  if (i < 0 || !process.argv[i + 1]) fail("usage: node fleet.mjs --plan FILE");
  let plan;
  try {
    plan = JSON.parse(readFileSync(process.argv[i + 1], "utf8"));
  } catch (err) {
    fail(`cannot read the plan: ${err.message}`);
  }
  const isStr = (v) => typeof v === "string" && v.length > 0;
  if (!plan || !isStr(plan.url) || !Array.isArray(plan.sockets)) fail("plan needs url and sockets[]");
  plan.sockets.forEach((s, n) => {
    if (!s || !isStr(s.key) || !["websocket", "polling"].includes(s.transport) ||
        !Array.isArray(s.rooms) || !s.rooms.every(isStr)) {
      fail(`sockets[${n}] needs key, transport websocket|polling and rooms[]`);
    }
  });
  const p = plan.producer;
  if (p != null && (!isStr(p.key) || !isStr(p.room) || !isStr(p.prefix) ||
      !(Number.isFinite(p.interval_ms) && p.interval_ms >= 0) ||
      !["websocket", "polling", undefined].includes(p.transport))) {
    fail("producer needs key, room, interval_ms, prefix (and optionally transport)");
  }
  return plan;
}

class Client {
  constructor(index, url, { key, transport, rooms, flood }) {
    this.index = index;
    this.flood = flood === true;
    this.roomNames = rooms;
    this.rooms = Object.fromEntries(rooms.map((r) => [r, new Map()])); // room -> Map(seq -> body)
    // room -> the seq up to which this socket has every message. Not the highest seq seen:
    // messages committed on different nodes can arrive out of seq order, and a rejoin from
    // the highest would skip one still in flight when the connection dropped.
    this.top = Object.fromEntries(rooms.map((r) => [r, 0]));
    Object.assign(this, { connects: 0, duplicates: 0, truncated_joins: 0, ready: false });
    Object.assign(this, { reasons: [], connectErrors: [], reconnectErrors: [], joinErrors: [], conflicts: [] });
    this.onReady = () => {};
    // "polling" = the library default (polling, then upgrade); "websocket" = WebSocket only.
    const opts = { auth: { token: key } };
    if (transport === "websocket") opts.transports = ["websocket"];
    this.socket = io(url, opts);
    this.socket.on("connect", () => this.joinAll(++this.connects));
    this.socket.on("disconnect", (reason) => {
      this.ready = false;
      this.reasons.push(reason);
      out({ event: "disconnect", socket: index, reason });
    });
    this.socket.on("connect_error", (err) => {
      const message = err?.message ?? String(err);
      const final = !this.socket.active; // a CONNECT_ERROR packet: the library will not retry
      (final ? this.connectErrors : this.reconnectErrors).push(message);
      out({ event: final ? "connect_error" : "reconnect_error", socket: index, message });
    });
    this.socket.on("message:new", (m) => this.see(m));
  }

  see(m) {
    if (!m || typeof m.room !== "string" || !Number.isInteger(m.seq)) return;
    const seen = this.rooms[m.room] ?? (this.rooms[m.room] = new Map());
    if (!seen.has(m.seq)) {
      seen.set(m.seq, m.body);
      let top = this.top[m.room] ?? 0;
      while (seen.has(top + 1)) top++;
      this.top[m.room] = top;
    } else if (seen.get(m.seq) === m.body) {
      this.duplicates++;
    } else {
      this.conflicts.push({ room: m.room, seq: m.seq, first: seen.get(m.seq), second: m.body });
    }
  }

  async joinAll(generation) {
    const results = await Promise.all(this.roomNames.map(async (room) => {
      let ack;
      try {
        ack = await this.socket.timeout(JOIN_TIMEOUT_MS)
          .emitWithAck("room:join", { room, since: this.top[room] ?? 0 });
      } catch (err) {
        ack = { ok: false, error: { code: "no_ack", message: err.message } };
      }
      if (ack?.ok === true) {
        (ack.missed ?? []).forEach((m) => this.see(m));
        if (ack.missed_truncated) this.truncated_joins++;
        return true;
      }
      // A join lost with its connection is redone by the next `connect`: not an error.
      if (generation === this.connects && this.socket.connected) {
        const error = { room, connect: generation, ack: ack ?? null };
        this.joinErrors.push(error);
        out({ event: "join_error", socket: this.index, ...error });
      }
      return false;
    }));
    if (generation !== this.connects || !this.socket.connected || !results.every(Boolean)) return;
    this.ready = true;
    if (generation === 1 && this.flood) {
      for (let i = 0; i < 1000; i++) this.socket.emit("message:history", { room: this.roomNames[0] });
    }
    if (generation === 1) this.onReady();
    else out({ event: "reconnected", socket: this.index });
  }

  entry() {
    const rooms = {};
    for (const [room, seen] of Object.entries(this.rooms)) {
      rooms[room] = Object.fromEntries([...seen].sort((a, b) => a[0] - b[0]));
    }
    return {
      connects: this.connects, connected: this.socket.connected, disconnect_reasons: this.reasons,
      connect_errors: this.connectErrors, reconnect_errors: this.reconnectErrors,
      join_errors: this.joinErrors, duplicates: this.duplicates, conflicts: this.conflicts,
      truncated_joins: this.truncated_joins, rooms,
    };
  }
}

/** Sends prefix-1, prefix-2, … one at a time; a lost or failed send is retried with the SAME
 *  client_id once the socket is back (and rejoined), so no message is acked under two seqs. */
async function produce(client, { room, interval_ms, prefix }, state) {
  for (let n = 1; !state.stopping;) {
    if (!client.ready) {
      await sleep(20);
      continue;
    }
    const body = `${prefix}-${n}`;
    let ack;
    try {
      ack = await client.socket.timeout(SEND_TIMEOUT_MS)
        .emitWithAck("message:send", { room, body, client_id: body });
    } catch (err) {
      ack = { ok: false, error: { code: "no_ack", message: err.message } };
    }
    if (ack?.ok === true && Number.isInteger(ack.message?.seq)) {
      const { seq } = ack.message;
      if (client.acked.has(seq) && client.acked.get(seq) !== body) {
        client.conflicts.push({ room, seq, first: client.acked.get(seq), second: body });
      }
      client.acked.set(seq, body);
      n++;
    } else if (client.sendErrors.length < MAX_SEND_ERRORS) {
      client.sendErrors.push({ body, error: ack?.error ?? ack ?? null });
    }
    await sleep(interval_ms);
  }
}

function main() {
  const plan = loadPlan();
  const state = { stopping: false };
  let pending = plan.sockets.length + (plan.producer ? 1 : 0);
  const readyOne = () => --pending === 0 && out({ event: "ready" });
  const clients = plan.sockets.map((s, i) => new Client(i, plan.url, s));
  clients.forEach((c) => (c.onReady = readyOne));
  let producer = null;
  if (plan.producer) {
    const p = plan.producer;
    const transport = p.transport ?? "websocket";
    producer = new Client(-1, plan.url, { key: p.key, transport, rooms: [p.room] });
    Object.assign(producer, { acked: new Map(), sendErrors: [], onReady: readyOne });
    produce(producer, p, state);
  }
  if (pending === 0) out({ event: "ready" });

  const stop = () => {
    state.stopping = true;
    for (const c of [...clients, producer].filter(Boolean)) c.socket.disconnect();
    process.exit(0);
  };
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    const command = line.trim();
    if (command === "stop") stop();
    else if (command === "report") {
      out({
        event: "report",
        connected: clients.filter((c) => c.socket.connected).length,
        sockets: clients.map((c) => c.entry()),
        producer: producer && {
          ...producer.entry(),
          acked: Object.fromEntries([...producer.acked].sort((a, b) => a[0] - b[0])),
          send_errors: producer.sendErrors,
        },
      });
    } else if (command) process.stderr.write(`fleet.mjs: unknown command ${JSON.stringify(command)}\n`);
  });
  lines.on("close", stop);
}

main();
