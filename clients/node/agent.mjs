#!/usr/bin/env node
// An AgentHub agent written with the official Socket.IO JavaScript client (socket.io-client 4.x).
//
// It connects two agents (yours and a peer), then walks through what an agent does on the hub
// (join a room, send, DM, history, presence, leave) and checks every answer against SPEC §5.
// Reconnection is left to the library; on every connect it rejoins its rooms with `since`
// (see followRooms), the pattern that survives hub restarts.
// With --stream, its message is streamed in chunks (stream:start, several stream:delta,
// stream:end), as an LLM agent answers, instead of sent whole with message:send (SPEC §11).
// With --call AGENT METHOD it is a caller instead (SPEC §12): it waits until AGENT is callable
// (GET /api/v1/agents?method=METHOD&online=true lists it), calls METHOD with params, checks
// rpc:accepted, rpc:progress and the result (its params echoed back, as `agent.py --serve`
// answers), and a few refusals; with --cancel it also cancels a second, slow call (params
// `work_ms`) after its first progress.
// One line per check; exit code 0 when every check passes, 1 when one fails or the whole run
// takes longer than 20 s, 2 on a usage error.
//
//   node agent.mjs --url http://127.0.0.1:3000 --key ahk_... --peer-key ahk_... \
//                  [--transport polling|websocket] [--room NAME] [--stream]
//   node agent.mjs --url http://127.0.0.1:3000 --key ahk_... --call AGENT METHOD [--cancel] \
//                  [--transport polling|websocket]

import { isDeepStrictEqual, parseArgs } from "node:util";
import { io } from "socket.io-client";

const ACK_TIMEOUT_MS = 5_000; // how long one event waits for its ack
const EVENT_TIMEOUT_MS = 5_000; // how long we wait for an event the server should push
const QUIET_MS = 300; // how long we listen to make sure something does NOT arrive
const GLOBAL_TIMEOUT_MS = 20_000;
const CALL_TIMEOUT_MS = 8_000; // --call: the calls' own deadline (timeout_ms)
const CALLABLE_WITHIN_MS = 10_000; // --call: how long the callee may take to come online

// ---------------------------------------------------------------------------------------------
// Command line

const USAGE =
  "usage: node agent.mjs --url URL --key API_KEY --peer-key API_KEY " +
  "[--transport polling|websocket] [--room NAME] [--stream]\n" +
  "       node agent.mjs --url URL --key API_KEY --call AGENT METHOD [--cancel] " +
  "[--transport polling|websocket]";

let args;
let positionals;
try {
  ({ values: args, positionals } = parseArgs({
    options: {
      url: { type: "string" },
      key: { type: "string" },
      "peer-key": { type: "string" },
      transport: { type: "string", default: "websocket" },
      room: { type: "string" },
      stream: { type: "boolean", default: false },
      call: { type: "string" },
      cancel: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true, // only METHOD, after --call AGENT
  }));
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const CALLING = args.call !== undefined;
if (!args.url || !args.key || !["polling", "websocket"].includes(args.transport) ||
    (CALLING ? positionals.length !== 1 : positionals.length !== 0 || !args["peer-key"] || args.cancel)) {
  console.error(USAGE);
  process.exit(2);
}

// "polling": start on HTTP long-polling and upgrade to WebSocket (the client's default).
// "websocket": WebSocket only, no polling at all.
const TRANSPORTS = args.transport === "polling" ? ["polling", "websocket"] : ["websocket"];
const ROOM = args.room ?? `js-demo-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6)}`;

// ---------------------------------------------------------------------------------------------
// Reporting

let step = "starting";
const sockets = [];

class CheckFailed extends Error {}

function check(name, ok, detail = "") {
  if (!ok) {
    throw new CheckFailed(`${name}${detail ? `: ${detail}` : ""}`);
  }
  console.log(`ok    ${name}`);
}

function show(value) {
  return JSON.stringify(value);
}

function finish(code, message) {
  if (message) console.error(message);
  for (const s of sockets) s.disconnect();
  process.exit(code);
}

setTimeout(() => finish(1, `FAIL  timed out after ${GLOBAL_TIMEOUT_MS / 1000} s during: ${step}`), GLOBAL_TIMEOUT_MS);

// ---------------------------------------------------------------------------------------------
// Small helpers around socket.io-client

/** Connects with the API key (or a JWT) in the handshake's auth payload. Reconnection is left
 *  to the library (on by default): there is no retry code here. */
function connect(label, token) {
  const socket = io(args.url, { auth: { token }, transports: TRANSPORTS });
  sockets.push(socket);
  followRooms(socket);
  // The engine is created synchronously: this is the transport the connection starts on.
  socket.startedOn = socket.io.engine.transport.name;
  socket.io.on("open", () => {
    socket.handshakeOn = socket.io.engine.transport.name;
    socket.io.engine.on("upgrade", (transport) => {
      socket.upgradedTo = transport.name;
    });
  });

  // Every event the server pushes lands in an inbox, so none is missed while we are busy.
  socket.inbox = [];
  socket.onAny((event, data) => socket.inbox.push({ event, data }));

  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) =>
      reject(new CheckFailed(`${label} could not connect: connect_error ${show(err.message)}`)),
    );
  });
}

/** The reconnect pattern. `socket.rooms` maps each joined room to the seqs seen there. On every
 *  `connect` (the first and each reconnect) the socket rejoins them with `since` = the seq up
 *  to which it has every message (not the highest seen: messages sent through different nodes
 *  may arrive out of order); the ack's `missed` fills the gap. A seq seen before is dropped. */
function followRooms(socket) {
  socket.rooms = new Map(); // room -> { top: every seq up to it seen, seen: Set of seqs }
  socket.deliver = (m) => {
    const r = socket.rooms.get(m.room);
    if (!r || r.seen.has(m.seq)) return false; // not followed, or a duplicate
    r.seen.add(m.seq);
    while (r.seen.has(r.top + 1)) r.top++;
    return true; // new: an agent would act on it here
  };
  socket.on("message:new", socket.deliver);
  socket.on("connect", () => {
    for (const [room, { top }] of socket.rooms) {
      call(socket, "room:join", { room, since: top })
        .then((ack) => (ack?.missed ?? []).forEach(socket.deliver))
        .catch((err) => console.error(`rejoining ${room}: ${err.message}`));
    }
  });
}

/** Emits an event and waits for its ack (`{"ok":true,...}` or `{"ok":false,"error":...}`). */
async function call(socket, event, payload) {
  try {
    return await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
  } catch {
    throw new CheckFailed(`${event}: no ack within ${ACK_TIMEOUT_MS} ms (sent ${show(payload)})`);
  }
}

/** Waits for a pushed event matching `match`; returns its payload. */
async function waitFor(socket, event, match = () => true, timeoutMs = EVENT_TIMEOUT_MS) {
  return waitForAfter(socket, 0, event, match, timeoutMs);
}

/** Waits for a pushed `event` matching `match` that arrived after inbox position `from`. */
async function waitForAfter(socket, from, event, match = () => true, timeoutMs = EVENT_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = socket.inbox.slice(from).find((e) => e.event === event && match(e.data));
    if (hit) return hit.data;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every payload of `event` received so far that matches. */
function received(socket, event, match = () => true) {
  return socket.inbox.filter((e) => e.event === event && match(e.data)).map((e) => e.data);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const STREAM_CHUNK_CHARS = 8; // what a model might produce between two deltas
const STREAM_DELTA_EVERY_MS = 50; // senders batch tokens: every delta counts against the rate limit

/** Answers by streaming `body` into ROOM in chunks, as an LLM agent does: stream:start, a
 *  stream:delta per chunk (without an ack, as senders usually do: a failed one would come back
 *  as hub:error), then stream:end with the client_id. Checks what the peer sees on the way;
 *  returns stream:end's ack, which is like message:send's. */
async function streamMessage(agent, peer, me, body, clientId) {
  step = "stream:start";
  let ack = await call(agent, "stream:start", { room: ROOM });
  const stream = ack?.stream;
  check("stream:start acks an open stream",
    ack?.ok === true && typeof stream?.id === "string" && stream.room === ROOM && stream.sender?.name === me,
    `got ${show(ack)}`);
  const started = await waitFor(peer, "stream:start", (s) => s?.id === stream.id);
  check("the peer receives stream:start", started !== undefined && show(started) === show(stream),
    `peer received ${show(received(peer, "stream:start"))}`);

  step = "stream:delta";
  const chunks = body.match(new RegExp(`.{1,${STREAM_CHUNK_CHARS}}`, "gsu"));
  for (const text of chunks) {
    agent.emit("stream:delta", { id: stream.id, text });
    await sleep(STREAM_DELTA_EVERY_MS);
  }
  const ours = (d) => d?.id === stream.id;
  await waitFor(peer, "stream:delta", (d) => ours(d) && d.index === chunks.length - 1);
  const deltas = received(peer, "stream:delta", ours);
  check(`the peer receives the ${chunks.length} deltas in order and can rebuild the draft`,
    show(deltas.map((d) => d.index)) === show(chunks.map((_, i) => i)) && deltas.map((d) => d.text).join("") === body,
    `peer received ${show(deltas)}`);
  check("no delta failed (no hub:error)", received(agent, "hub:error").length === 0,
    `received ${show(received(agent, "hub:error"))}`);

  step = "stream:end";
  ack = await call(agent, "stream:end", { id: stream.id, client_id: clientId });
  check("stream:end stores the message with the stream's id", ack?.ok === true && ack.message?.stream === stream.id,
    `got ${show(ack)}`);
  check("the sending socket gets none of its own stream events",
    received(agent, "stream:start").length === 0 && received(agent, "stream:delta").length === 0,
    `received ${show(agent.inbox.filter((e) => e.event.startsWith("stream:")))}`);
  return ack;
}

async function whoAmI(key) {
  let res;
  try {
    res = await fetch(new URL("/api/v1/me", args.url), { headers: { Authorization: `Bearer ${key}` } });
  } catch (err) {
    throw new CheckFailed(`cannot reach ${args.url}: ${err.cause?.code ?? err.message}`);
  }
  if (!res.ok) throw new CheckFailed(`GET /api/v1/me answered ${res.status}: ${await res.text()}`);
  return (await res.json()).name;
}

/** GET a REST path with our key; the JSON body of a 200. */
async function getJson(path) {
  let res;
  try {
    res = await fetch(new URL(path, args.url), { headers: { Authorization: `Bearer ${args.key}` } });
  } catch (err) {
    throw new CheckFailed(`cannot reach ${args.url}: ${err.cause?.code ?? err.message}`);
  }
  if (!res.ok) throw new CheckFailed(`GET ${path} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** Emits rpc:call and waits for its ack, which comes when the call is over: the client-side
 *  timeout is longer than the call's own `timeout_ms`, so the hub's `timeout` answer arrives
 *  first. Resolves with the ack; never rejects (undefined when no ack came). */
function rpcCall(socket, payload) {
  return socket
    .timeout(payload.timeout_ms + ACK_TIMEOUT_MS)
    .emitWithAck("rpc:call", payload)
    .catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// Caller mode (--call AGENT METHOD): calling another agent (SPEC §12)

async function callAgent() {
  const target = args.call;
  const [method] = positionals;
  step = "looking up our name";
  const me = await whoAmI(args.key);
  console.log(`info  agent ${me} calls ${target} ${method}, transports ${show(TRANSPORTS)}`);

  step = "connecting";
  const agent = await connect(me, args.key);
  check("the caller connected", agent.connected);

  // Discovery: the agents whose card lists the method and that are online now.
  step = `waiting for ${target} to be callable`;
  const query = `/api/v1/agents?method=${encodeURIComponent(method)}&online=true`;
  let listed = [];
  for (const until = Date.now() + CALLABLE_WITHIN_MS; ; await sleep(200)) {
    listed = ((await getJson(query)).agents ?? []).map((a) => a.name);
    if (listed.includes(target) || Date.now() > until) break;
  }
  check(`GET ${query} lists ${target}`, listed.includes(target), `listed ${show(listed)}`);
  const card = await getJson(`/api/v1/agents/${encodeURIComponent(target)}/card`);
  check(`${target}'s card lists ${method}`, card.agent?.name === target && card.methods?.includes(method),
    `card ${show(card)}`);

  // The call. Its id comes first, in rpc:accepted (what a cancel needs), then the callee's
  // progress, then the ack with the result. not_found is retried for a moment: the callee's
  // socket may be a moment behind what the list said.
  step = `calling ${target} ${method}`;
  const params = { text: "hello from socket.io-client", n: 42 };
  const payload = { to: target, method, params, timeout_ms: CALL_TIMEOUT_MS };
  let from;
  let ack;
  for (const until = Date.now() + 5_000; ; await sleep(200)) {
    from = agent.inbox.length;
    ack = await rpcCall(agent, payload);
    if (ack?.ok !== false || ack.error?.code !== "not_found" || Date.now() > until) break;
  }
  const accepted = agent.inbox.slice(from).filter((e) => e.event === "rpc:accepted").map((e) => e.data);
  const id = accepted[0]?.id;
  check("rpc:accepted names the call (id, to, method) before its answer",
    accepted.length === 1 && typeof id === "string" && id.startsWith("rpc_") && accepted[0].to === target &&
      accepted[0].method === method,
    `received ${show(accepted)} then the ack ${show(ack)}`);
  const progress = agent.inbox.slice(from).filter((e) => e.event === "rpc:progress" && e.data?.id === id);
  check("rpc:progress from the callee came with the call's id before the answer", progress.length >= 1,
    `received ${show(agent.inbox.slice(from))}`);
  check(`the call answers with ${target}'s result (our params echoed back)`,
    ack?.ok === true && isDeepStrictEqual(ack.result?.echo, params), // the keys' order may differ
    `got ${show(ack)}`);
  console.log(`info  result from ${target}: ${show(ack.result)}`);

  step = "refused calls";
  ack = await call(agent, "rpc:cancel", { id });
  check("rpc:cancel of a call that is over is answered not_found",
    ack?.ok === false && ack.error?.code === "not_found", `got ${show(ack)}`);
  ack = await rpcCall(agent, { to: target, method: "no-such-method", timeout_ms: 1_000 });
  check(`a method ${target}'s card does not list is answered not_found`,
    ack?.ok === false && ack.error?.code === "not_found", `got ${show(ack)}`);
  ack = await call(agent, "rpc:call", { to: target, method, timeout_ms: 99 });
  check("a timeout_ms below 100 is answered bad_request",
    ack?.ok === false && ack.error?.code === "bad_request", `got ${show(ack)}`);

  if (args.cancel) {
    // A slow call (the callee works `work_ms`), canceled once it reported progress: the call
    // answers conflict (`canceled`) at once and the callee is sent rpc:cancel.
    step = "canceling a call";
    const work = { to: target, method, params: { text: "take your time", work_ms: 6_000 }, timeout_ms: CALL_TIMEOUT_MS };
    const started = Date.now();
    from = agent.inbox.length;
    const pending = rpcCall(agent, work);
    const slow = await waitForAfter(agent, from, "rpc:accepted");
    check("a second, slow call is accepted with an id of its own", typeof slow?.id === "string" && slow.id !== id,
      `received ${show(agent.inbox.slice(from))}`);
    const working = await waitForAfter(agent, from, "rpc:progress", (p) => p?.id === slow.id);
    check("its rpc:progress comes while the callee works", working !== undefined,
      `received ${show(agent.inbox.slice(from))}`);
    ack = await call(agent, "rpc:cancel", { id: slow.id });
    check("rpc:cancel of the call in flight answers ok", ack?.ok === true, `got ${show(ack)}`);
    ack = await pending;
    check("the canceled call answers conflict (canceled) at once, before the work was done",
      ack?.ok === false && ack.error?.code === "conflict" && ack.error.message === "canceled" &&
        Date.now() - started < work.params.work_ms,
      `got ${show(ack)} after ${Date.now() - started} ms`);
  }

  step = "disconnecting";
  agent.disconnect();
  check("the caller disconnected", !agent.connected);
  console.log("PASS  all checks passed");
}

// ---------------------------------------------------------------------------------------------
// The walk-through

async function main() {
  step = "looking up both agents' names";
  const me = await whoAmI(args.key);
  const peerName = await whoAmI(args["peer-key"]);
  console.log(`info  agents ${me} and ${peerName}, room ${ROOM}, transports ${show(TRANSPORTS)}`);

  step = "connecting";
  const [agent, peer] = await Promise.all([connect(me, args.key), connect(peerName, args["peer-key"])]);
  check("both agents connected", agent.connected && peer.connected);
  if (args.transport === "polling") {
    check("the connection started on HTTP long-polling", agent.startedOn === "polling",
      `transport was ${show(agent.startedOn)}`);
    check("the handshake completed over long-polling", agent.handshakeOn === "polling",
      `handshake transport was ${show(agent.handshakeOn)}`);
  } else {
    check("the connection is WebSocket only", agent.io.engine.transport.name === "websocket",
      `transport is ${show(agent.io.engine.transport.name)}`);
  }

  // -- Rooms ----------------------------------------------------------------------------------
  step = "room:join";
  let ack = await call(agent, "room:join", { room: ROOM });
  agent.rooms.set(ROOM, { top: 0, seen: new Set() }); // rejoined after a reconnect from now on
  check("room:join acks ok with the room and its members",
    ack?.ok === true && ack.room?.name === ROOM && Array.isArray(ack.members) &&
      ack.members.some((m) => m.agent?.name === me) && Array.isArray(ack.missed),
    `got ${show(ack)}`);
  ack = await call(peer, "room:join", { room: ROOM });
  check("the peer joins too", ack?.ok === true, `got ${show(ack)}`);
  peer.rooms.set(ROOM, { top: 0, seen: new Set() });
  const joined = await waitFor(agent, "presence:join", (d) => d?.room === ROOM && d.member?.agent?.name === peerName);
  check("presence:join tells us the peer arrived", joined !== undefined,
    `received ${show(received(agent, "presence:join"))}`);

  // -- Messages -------------------------------------------------------------------------------
  step = "message:send";
  const clientId = `js-${Date.now()}`;
  const body = "hello from socket.io-client <b>&amp;</b> ✓";
  ack = args.stream
    ? await streamMessage(agent, peer, me, body, clientId)
    : await call(agent, "message:send", { room: ROOM, body, client_id: clientId });
  check(`${args.stream ? "stream:end" : "message:send"} acks the stored message`,
    ack?.ok === true && ack.duplicate === false && Number.isInteger(ack.message?.seq) &&
      ack.message.body === body && ack.message.room === ROOM && ack.message.sender?.name === me &&
      ack.message.client_id === clientId,
    `got ${show(ack)}`);
  const sent = ack.message;

  const delivered = await waitFor(peer, "message:new", (m) => m?.room === ROOM && m.seq === sent.seq);
  check("the peer receives message:new with the same seq", delivered !== undefined && delivered.body === body &&
      delivered.id === sent.id,
    `expected seq ${sent.seq}, peer received ${show(received(peer, "message:new"))}`);
  if (args.stream) {
    check("the peer's message:new names the stream, so it replaces the draft", delivered.stream === sent.stream,
      `peer received ${show(delivered)}`);
  }
  await sleep(QUIET_MS);
  check("the sending socket does not get its own message back",
    received(agent, "message:new", (m) => m?.room === ROOM).length === 0,
    `received ${show(received(agent, "message:new"))}`);

  step = "message:send (repeated client_id)";
  ack = await call(agent, "message:send", { room: ROOM, body: "a retry", client_id: clientId });
  check("repeating client_id returns the stored message with duplicate:true",
    ack?.ok === true && ack.duplicate === true && ack.message?.seq === sent.seq && ack.message.body === body,
    `got ${show(ack)}`);
  await sleep(QUIET_MS);
  check("a duplicate is not broadcast again",
    received(peer, "message:new", (m) => m?.room === ROOM).length === 1,
    `peer received ${show(received(peer, "message:new"))}`);
  check("the peer would rejoin after a reconnect with since = that seq",
    peer.rooms.get(ROOM)?.top === sent.seq && peer.rooms.get(ROOM).seen.size === 1,
    `peer follows ${show([...peer.rooms].map(([r, { top }]) => ({ room: r, top })))}`);

  // -- Direct messages ------------------------------------------------------------------------
  step = "dm:send";
  const dmRoom = `dm:${[me, peerName].sort().join(":")}`;
  ack = await call(agent, "dm:send", { to: peerName, body: "psst", client_id: `${clientId}-dm` });
  check(`dm:send acks a message in ${dmRoom}`,
    ack?.ok === true && ack.message?.room === dmRoom && ack.message.body === "psst",
    `got ${show(ack)}`);
  const dm = await waitFor(peer, "message:new", (m) => m?.room === dmRoom && m.seq === ack.message.seq);
  check("the peer receives the DM", dm !== undefined && dm.body === "psst" && dm.sender?.name === me,
    `peer received ${show(received(peer, "message:new"))}`);

  // -- History --------------------------------------------------------------------------------
  step = "message:history";
  ack = await call(agent, "message:history", { room: ROOM, limit: 10 });
  check("message:history returns the message once, ascending",
    ack?.ok === true && Array.isArray(ack.messages) && ack.messages.length === 1 &&
      ack.messages[0].seq === sent.seq && ack.messages[0].body === body && ack.has_more === false,
    `got ${show(ack)}`);

  // -- Presence -------------------------------------------------------------------------------
  step = "presence:set";
  const note = "writing the weekly report";
  ack = await call(agent, "presence:set", { status: "busy", note });
  check("presence:set acks our member as busy",
    ack?.ok === true && ack.member?.status === "busy" && ack.member.note === note && ack.member.agent?.name === me,
    `got ${show(ack)}`);
  const update = await waitFor(peer, "presence:update",
    (d) => d?.room === ROOM && d.member?.agent?.name === me && d.member.status === "busy");
  check("the peer receives presence:update", update !== undefined && update.member.note === note,
    `peer received ${show(received(peer, "presence:update"))}`);

  step = "presence:list";
  ack = await call(peer, "presence:list", { room: ROOM });
  const names = ack?.members?.map((m) => m.agent?.name);
  const mine = ack?.members?.find((m) => m.agent?.name === me);
  check("presence:list shows both agents, ordered by name, ours busy",
    ack?.ok === true && show(names) === show([me, peerName].sort()) && mine?.status === "busy" && mine.note === note,
    `got ${show(ack)}`);

  step = "room:leave";
  ack = await call(agent, "room:leave", { room: ROOM });
  check("room:leave acks ok", ack?.ok === true, `got ${show(ack)}`);
  agent.rooms.delete(ROOM); // left: no longer rejoined on a reconnect
  const left = await waitFor(peer, "presence:leave", (d) => d?.room === ROOM && d.agent?.name === me);
  check("the peer receives presence:leave", left !== undefined,
    `peer received ${show(received(peer, "presence:leave"))}`);

  // -- Errors ---------------------------------------------------------------------------------
  step = "bad events";
  ack = await call(agent, "no:such-event", { room: ROOM });
  check("an unknown event is answered bad_request",
    ack?.ok === false && ack.error?.code === "bad_request" && typeof ack.error.message === "string",
    `got ${show(ack)}`);
  ack = await call(agent, "message:send", "not an object");
  check("a payload that is not a JSON object is answered bad_request",
    ack?.ok === false && ack.error?.code === "bad_request" && typeof ack.error.message === "string",
    `got ${show(ack)}`);

  // -- Transport report -----------------------------------------------------------------------
  if (args.transport === "polling") {
    step = "waiting for the upgrade";
    const until = Date.now() + 2_000;
    while (!agent.upgradedTo && Date.now() < until) await sleep(20);
    console.log(`info  upgraded from polling to websocket: ${agent.upgradedTo === "websocket" ? "yes" : "no"}` +
      ` (transport now ${agent.io.engine.transport.name})`);
  }

  step = "disconnecting";
  agent.disconnect();
  peer.disconnect();
  check("both agents disconnected", !agent.connected && !peer.connected);
  console.log("PASS  all checks passed");
}

(CALLING ? callAgent() : main()).then(
  () => finish(0),
  (err) => finish(1, err instanceof CheckFailed ? `FAIL  ${err.message}` : `FAIL  ${step}: ${err?.stack ?? err}`),
);
