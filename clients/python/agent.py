#!/usr/bin/env python3
"""An AgentHub agent written with python-socketio's asyncio client (python-socketio 5.x).

It connects two agents (yours and a peer), then walks through what an agent does on the hub
(join a room, send, DM, history, presence, leave) and checks every answer against SPEC §5.
Reconnection is left to the library; on every connect it rejoins its rooms with `since`
(see Agent), the pattern that survives hub restarts. Each agent also reads streamed messages
(SPEC §11): it builds drafts from stream:start and stream:delta, drops them on stream:abort,
and prints the finished message once, from its message:new. With --stream the agent streams
its message in chunks (stream:start, several stream:delta, stream:end) instead of sending it
whole, and checks that the peer read it that way.
With --serve METHOD it is a callee instead (SPEC §12): it publishes its card, listing METHOD,
over REST with its own key, connects, and answers each rpc:request for METHOD with its params
echoed back, sending one rpc:progress first and stopping a call it is told to cancel
(rpc:cancel); it exits after --calls N calls (default 1; 0: until SIGINT or SIGTERM). A call
whose params hold "work_ms" takes that long (until its deadline at most), so it can be canceled.
One line per check; exit code 0 when every check passes, 1 when one fails or the whole run
takes longer than 20 s (with --serve: when it has not served N calls within 20 s, or a signal
stops it first; --calls 0 has no time limit and exits 0 on the signal), 2 on a usage error, 3
when the packages are not installed.

    python agent.py --url http://127.0.0.1:3000 --key ahk_... --peer-key ahk_... \\
                    [--transport polling|websocket] [--room NAME] [--stream]
    python agent.py --url http://127.0.0.1:3000 --key ahk_... --serve METHOD [--calls N] \\
                    [--transport polling|websocket]
"""

import argparse
import asyncio
import datetime
import json
import random
import signal
import sys
import time

try:
    import aiohttp
    import socketio
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(
        f"FAIL  {exc.name} is not installed: pip install -r clients/python/requirements.txt "
        "(bash .ci/run does it into clients/python/.venv)",
        file=sys.stderr,
    )
    sys.exit(3)

ACK_TIMEOUT = 5.0  # how long one event waits for its ack
EVENT_TIMEOUT = 5.0  # how long we wait for an event the server should push
QUIET = 0.3  # how long we listen to make sure something does NOT arrive
GLOBAL_TIMEOUT = 20.0
STREAM_CHUNK_CHARS = 8  # what a model might produce between two deltas (--stream)
STREAM_DELTA_EVERY = 0.05  # senders batch tokens: every delta counts against the rate limit

# ---------------------------------------------------------------------------------------------
# Reporting


class CheckFailed(Exception):
    pass


step = "starting"


def check(name, ok, detail=""):
    if not ok:
        raise CheckFailed(f"{name}: {detail}" if detail else name)
    print(f"ok    {name}", flush=True)


def show(value):
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# Small helpers around python-socketio


class Agent:
    """One Socket.IO connection, with an inbox of every event the server pushed to it."""

    def __init__(self, label, url, token, transports):
        self.label, self.url, self.token, self.transports = label, url, token, transports
        # Reconnection is left to the library (on by default): there is no retry code here.
        self.sio = socketio.AsyncClient()
        self.inbox = []  # (event, data), in arrival order
        self.handshake_transport = None
        # The reconnect pattern: each joined room -> the seqs seen there. On every `connect`
        # (the first and each reconnect) rejoin them with `since` = the seq up to which every
        # message was seen (not the highest: messages sent through different nodes may arrive
        # out of order); the ack's `missed` fills the gap. A seq seen before is dropped.
        self.rooms = {}  # room -> set of seqs seen
        self.rejoining = set()  # the rejoin tasks, kept referenced until they finish
        # Streams being read: stream id -> {"text", "index", "lost"}, the draft a reader would
        # show as it grows; `index` is the last delta in `text`. The finished message
        # (message:new whose `stream` is the draft's id) replaces it; stream:abort drops it.
        self.drafts = {}
        self.finished = set()  # streams whose message arrived (a join may still list them)
        self.streamed = []  # (message, the draft it replaced or None), once per message

        @self.sio.event
        async def connect():
            for room, seen in self.rooms.items():  # a task: the handler must not wait for acks
                since = 0
                while since + 1 in seen:
                    since += 1
                task = asyncio.create_task(self.rejoin(room, since))
                self.rejoining.add(task)
                task.add_done_callback(self.rejoining.discard)

        @self.sio.on("*")
        async def any_event(event, data=None):
            self.inbox.append((event, data))
            if event == "message:new":
                self.deliver(data)
            elif event in ("stream:start", "stream:delta", "stream:abort"):
                self.read_stream(event, data)

        # Peek at the Engine.IO layer: which transport carried the handshake. python-socketio
        # upgrades polling to WebSocket inside connect(), so afterwards only this tells.
        socketio_handler = self.sio.eio.handlers["connect"]

        async def on_engineio_connect():
            self.handshake_transport = self.sio.eio.current_transport
            return await socketio_handler()

        self.sio.eio.on("connect", on_engineio_connect)

    def deliver(self, m):
        """True for a message seen for the first time in a followed room (an agent acts on it)."""
        seen = self.rooms.get(field(m, "room"))
        if seen is None or field(m, "seq") in seen:
            return False  # not a followed room, or a duplicate
        seen.add(field(m, "seq"))
        if field(m, "stream"):
            self.finish_stream(m)
        return True

    def read_stream(self, event, data):
        """Grows, or drops, the draft of a stream (SPEC §11)."""
        sid = field(data, "id")
        if field(data, "room") not in self.rooms or sid in self.finished:
            return  # not a followed room, or its message already came
        if event == "stream:abort":
            self.drafts.pop(sid, None)
            return
        # A delta of an unknown stream: it started before we joined (a join lists its text).
        draft = self.drafts.setdefault(sid, {"text": "", "index": -1, "lost": False})
        if event == "stream:delta" and field(data, "index") > draft["index"]:
            # A jump in `index` means a delta was lost: the final message has the whole text.
            draft["lost"] |= field(data, "index") > draft["index"] + 1
            draft["text"] += field(data, "text")
            draft["index"] = field(data, "index")

    def take_drafts(self, streams):
        """room:join's `streams`: each open stream's text so far, to continue it mid-stream."""
        for d in streams or []:
            if field(d, "id") in self.finished:
                continue  # its message came first: the list is a moment older
            draft = self.drafts.setdefault(field(d, "id"), {"text": "", "index": -1, "lost": False})
            if field(d, "index") >= draft["index"]:
                draft.update(text=field(d, "text"), index=field(d, "index"), lost=False)

    def finish_stream(self, m):
        """A finished stream: its message replaces the draft. Printed once (`deliver` drops
        repeats), whether or not a draft was seen."""
        self.finished.add(field(m, "stream"))
        draft = self.drafts.pop(field(m, "stream"), None)
        self.streamed.append((m, draft))
        if draft is None:
            how = "no draft seen"
        else:
            how = f"{draft['index'] + 1} deltas" + (", one or more lost" if draft["lost"] else "")
        print(
            f"info  {self.label} read a streamed message in {field(m, 'room')}, seq "
            f"{field(m, 'seq')} by {field(m, 'sender', 'name')} ({how}): {show(field(m, 'body'))}",
            flush=True,
        )

    async def rejoin(self, room, since):
        try:
            ack = await self.sio.call("room:join", {"room": room, "since": since}, timeout=ACK_TIMEOUT)
            for m in field(ack, "missed") or []:
                self.deliver(m)  # a streamed message in `missed` ends its draft
            self.take_drafts(field(ack, "streams"))
        except Exception as exc:  # noqa: BLE001 - e.g. disconnected again: the next connect rejoins
            print(f"rejoining {room}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    async def connect(self):
        try:
            # The API key (or a JWT) goes in the handshake's auth payload, never in the URL.
            await self.sio.connect(
                self.url,
                auth={"token": self.token},
                transports=self.transports,
                wait_timeout=ACK_TIMEOUT,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise CheckFailed(f"{self.label} could not connect: connect_error {exc}") from None

    async def call(self, event, payload):
        """Emits an event and waits for its ack ({"ok":true,...} or {"ok":false,"error":...})."""
        try:
            return await self.sio.call(event, payload, timeout=ACK_TIMEOUT)
        except socketio.exceptions.TimeoutError:
            raise CheckFailed(
                f"{event}: no ack within {ACK_TIMEOUT} s (sent {show(payload)})"
            ) from None

    def received(self, event, match=lambda data: True):
        """Every payload of `event` received so far that matches."""
        return [d for (e, d) in self.inbox if e == event and match(d)]

    async def wait_for(self, event, match=lambda data: True, timeout=EVENT_TIMEOUT):
        """Waits for a pushed event matching `match`; returns its payload or None."""
        deadline = time.monotonic() + timeout
        while True:
            hits = self.received(event, match)
            if hits:
                return hits[0]
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.02)

    async def disconnect(self):
        if self.sio.connected:
            await self.sio.disconnect()


def field(data, *path):
    """data[path[0]][path[1]]..., or None when any step is missing."""
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


async def who_am_i(url, key):
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{url.rstrip('/')}/api/v1/me", headers={"Authorization": f"Bearer {key}"}
            ) as res:
                if res.status != 200:
                    raise CheckFailed(f"GET /api/v1/me answered {res.status}: {await res.text()}")
                return (await res.json())["name"]
    except aiohttp.ClientConnectionError as exc:
        raise CheckFailed(f"cannot reach {url}: {exc}") from None


async def stream_message(agent, peer, room, me, body, client_id):
    """Answers by streaming `body` into `room` in chunks, as an LLM agent does: stream:start, a
    stream:delta per chunk (without an ack, as senders usually do: a failed one would come back
    as hub:error), then stream:end with the client_id. Checks what the peer sees on the way;
    returns stream:end's ack, which is like message:send's."""
    global step
    step = "stream:start"
    ack = await agent.call("stream:start", {"room": room})
    stream = field(ack, "stream") or {}
    check(
        "stream:start acks an open stream",
        field(ack, "ok") is True
        and isinstance(stream.get("id"), str)
        and stream.get("room") == room
        and field(stream, "sender", "name") == me,
        f"got {show(ack)}",
    )

    step = "stream:delta"
    chunks = [body[i : i + STREAM_CHUNK_CHARS] for i in range(0, len(body), STREAM_CHUNK_CHARS)]
    for text in chunks:
        await agent.sio.emit("stream:delta", {"id": stream["id"], "text": text})
        await asyncio.sleep(STREAM_DELTA_EVERY)
    await peer.wait_for(
        "stream:delta",
        lambda d: field(d, "id") == stream["id"] and field(d, "index") == len(chunks) - 1,
    )
    draft = peer.drafts.get(stream["id"])
    check(
        f"the peer built the draft from the {len(chunks)} deltas",
        draft == {"text": body, "index": len(chunks) - 1, "lost": False},
        f"peer's draft {show(draft)}, deltas {show(peer.received('stream:delta'))}",
    )
    check(
        "no delta failed (no hub:error)",
        not agent.received("hub:error"),
        f"received {show(agent.received('hub:error'))}",
    )

    step = "stream:end"
    ack = await agent.call("stream:end", {"id": stream["id"], "client_id": client_id})
    check(
        "stream:end stores the message with the stream's id",
        field(ack, "ok") is True and field(ack, "message", "stream") == stream["id"],
        f"got {show(ack)}",
    )
    return ack


# ---------------------------------------------------------------------------------------------
# Callee mode (--serve): answering calls from other agents (SPEC §12)


async def publish_card(url, key, name, card):
    """PUT /api/v1/agents/{name}/card with the agent's own key: the card is replaced whole."""
    try:
        async with aiohttp.ClientSession() as http:
            async with http.put(
                f"{url.rstrip('/')}/api/v1/agents/{name}/card",
                json=card,
                headers={"Authorization": f"Bearer {key}"},
            ) as res:
                if res.status != 200:
                    raise CheckFailed(f"PUT /api/v1/agents/{name}/card answered {res.status}: {await res.text()}")
                return await res.json()
    except aiohttp.ClientConnectionError as exc:
        raise CheckFailed(f"cannot reach {url}: {exc}") from None


class Callee:
    """Answers rpc:request for one method on one socket: one rpc:progress, then the result (the
    handler's return value is the ack the hub forwards to the caller). Requests are handled
    concurrently (python-socketio runs each event in a task of its own), so an rpc:cancel can
    reach a call while it works."""

    def __init__(self, agent, method, wanted):
        self.agent, self.method, self.wanted = agent, method, wanted
        self.received = 0  # requests so far: numbers them in the output
        self.served = 0  # answered or canceled
        self.cancels = {}  # call id -> asyncio.Event set by rpc:cancel, while the call works
        self.reasons = {}  # call id -> the reason of its rpc:cancel
        self.done = asyncio.Event()  # set after `wanted` calls, or when a check failed
        self.failure = None
        agent.sio.on("rpc:request", self.on_request)
        agent.sio.on("rpc:cancel", self.on_cancel)

    async def on_request(self, request):
        call_id = field(request, "id")
        self.cancels[call_id] = asyncio.Event()  # before any await: a cancel may follow at once
        try:
            return await self.answer(request, call_id)
        except CheckFailed as exc:
            self.failure = exc
            self.done.set()
            return {"ok": False, "error": {"code": "internal", "message": "the callee failed a check"}}
        finally:
            self.cancels.pop(call_id, None)

    async def on_cancel(self, data):
        """rpc:cancel {"id","reason"}: the caller canceled (`canceled`, also when its socket went
        away) or the deadline passed (`timeout`). Whatever we answer now is dropped."""
        canceled = self.cancels.get(field(data, "id"))
        if canceled is None:
            print(f"info  rpc:cancel for a call not in progress: {show(data)}", flush=True)
            return
        self.reasons[field(data, "id")] = field(data, "reason")
        canceled.set()

    def count(self):
        global step
        self.served += 1
        step = f"serving {self.method} ({self.served} of {self.wanted or 'any number of'} calls served)"
        if self.wanted and self.served >= self.wanted:
            self.done.set()

    async def answer(self, request, call_id):
        self.received += 1
        n = self.received
        caller = field(request, "from", "name")
        try:
            deadline = datetime.datetime.fromisoformat(field(request, "deadline"))
        except (TypeError, ValueError):
            deadline = None
        now = datetime.datetime.now(datetime.timezone.utc)
        check(
            f"rpc:request {n} from {caller} names the call, the method and a deadline ahead",
            isinstance(call_id, str)
            and isinstance(caller, str)
            and isinstance(field(request, "method"), str)
            and deadline is not None
            and deadline > now,
            f"got {show(request)}",
        )
        if field(request, "method") != self.method:  # the hub only sends what the card lists
            self.count()
            return {"ok": False, "error": {"code": "not_found", "message": "no such method here"}}

        ack = await self.agent.call("rpc:progress", {"id": call_id, "data": {"stage": "started"}})
        check(f"rpc:progress for call {n} is acked", field(ack, "ok") is True, f"got {show(ack)}")

        # The work: `work_ms` of the params, never past the deadline; rpc:cancel stops it.
        params = field(request, "params")
        work = field(params, "work_ms") if isinstance(field(params, "work_ms"), (int, float)) else 0
        work = max(0.0, min(work / 1000, (deadline - now).total_seconds()))
        try:
            await asyncio.wait_for(self.cancels[call_id].wait(), timeout=work)
        except asyncio.TimeoutError:
            pass
        if self.cancels[call_id].is_set():
            check(f"call {n} stopped on rpc:cancel (reason {self.reasons.get(call_id)})", True)
            self.count()
            return {"ok": False, "error": {"code": "conflict", "message": "canceled"}}  # dropped

        result = {"echo": params, "method": self.method, "by": self.agent.label}
        print(f"info  answered call {n} ({call_id}) from {caller} with {show(result)}", flush=True)
        self.count()
        return {"ok": True, "result": result}


async def serve(args, agents):
    global step
    transports = ["polling", "websocket"] if args.transport == "polling" else ["websocket"]
    method = args.serve

    step = "looking up the agent's name"
    me = await who_am_i(args.url, args.key)
    how_many = f"{args.calls} call(s)" if args.calls else "until SIGINT or SIGTERM"
    print(f"info  agent {me} serves {method} ({how_many}), transports {show(transports)}")

    step = "publishing the card"
    card = await publish_card(
        args.url,
        args.key,
        me,
        {
            "description": "An example callee: answers its method with the params it was given.",
            "version": "1.0",
            "skills": [{"id": "echo", "name": "Echo", "tags": ["example"]}],
            "methods": [method],
        },
    )
    check(
        f"PUT /api/v1/agents/{me}/card publishes a card listing {method}",
        field(card, "agent", "name") == me and field(card, "methods") == [method],
        f"got {show(card)}",
    )

    step = "connecting"
    agent = Agent(me, args.url, args.key, transports)
    agents.append(agent)
    callee = Callee(agent, method, args.calls)  # handlers registered before the connection
    await agent.connect()
    check("the callee connected", agent.sio.connected)

    step = f"serving {method} (0 of {args.calls or 'any number of'} calls served)"
    print(f"info  waiting for calls to {method}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    waits = [asyncio.create_task(callee.done.wait()), asyncio.create_task(stopped.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if callee.failure:
        raise callee.failure
    if not callee.done.is_set():
        print(f"info  stopped by a signal after serving {callee.served} call(s)", flush=True)
        if args.calls:
            raise CheckFailed(f"stopped before serving {args.calls} call(s): served {callee.served}")
    await asyncio.sleep(QUIET)  # the last answer is sent once its handler has returned

    step = "disconnecting"
    await agent.disconnect()
    check("the callee disconnected", not agent.sio.connected)
    print(f"info  served {callee.served} call(s) to {method}")
    print("PASS  all checks passed", flush=True)


# ---------------------------------------------------------------------------------------------
# The walk-through


async def walk(args, agents):
    global step
    transports = ["polling", "websocket"] if args.transport == "polling" else ["websocket"]
    room = args.room or f"py-demo-{int(time.time() * 1000):x}-{random.randrange(10**6)}"

    step = "looking up both agents' names"
    me = await who_am_i(args.url, args.key)
    peer_name = await who_am_i(args.url, args.peer_key)
    print(f"info  agents {me} and {peer_name}, room {room}, transports {show(transports)}")

    step = "connecting"
    agent = Agent(me, args.url, args.key, transports)
    peer = Agent(peer_name, args.url, args.peer_key, transports)
    agents += [agent, peer]
    await asyncio.gather(agent.connect(), peer.connect())
    check("both agents connected", agent.sio.connected and peer.sio.connected)
    if args.transport == "polling":
        check(
            "the connection started on HTTP long-polling",
            agent.handshake_transport == "polling",
            f"handshake transport was {show(agent.handshake_transport)}",
        )
    else:
        check(
            "the connection is WebSocket only",
            agent.handshake_transport == "websocket" and agent.sio.transport() == "websocket",
            f"handshake on {show(agent.handshake_transport)}, now {show(agent.sio.transport())}",
        )

    # -- Rooms ----------------------------------------------------------------------------------
    step = "room:join"
    ack = await agent.call("room:join", {"room": room})
    check(
        "room:join acks ok with the room and its members",
        field(ack, "ok") is True
        and field(ack, "room", "name") == room
        and any(field(m, "agent", "name") == me for m in field(ack, "members") or [])
        and isinstance(field(ack, "missed"), list),
        f"got {show(ack)}",
    )
    agent.rooms[room] = set()  # rejoined after a reconnect from now on
    ack = await peer.call("room:join", {"room": room})
    check("the peer joins too", field(ack, "ok") is True, f"got {show(ack)}")
    peer.rooms[room] = set()
    joined = await agent.wait_for(
        "presence:join",
        lambda d: field(d, "room") == room and field(d, "member", "agent", "name") == peer_name,
    )
    check(
        "presence:join tells us the peer arrived",
        joined is not None,
        f"received {show(agent.received('presence:join'))}",
    )

    # -- Messages -------------------------------------------------------------------------------
    step = "message:send"
    client_id = f"py-{int(time.time() * 1000)}"
    body = "hello from python-socketio <b>&amp;</b> ✓"
    if args.stream:
        ack = await stream_message(agent, peer, room, me, body, client_id)
    else:
        ack = await agent.call("message:send", {"room": room, "body": body, "client_id": client_id})
    sent = field(ack, "message") or {}
    check(
        f"{'stream:end' if args.stream else 'message:send'} acks the stored message",
        field(ack, "ok") is True
        and field(ack, "duplicate") is False
        and isinstance(sent.get("seq"), int)
        and sent.get("body") == body
        and sent.get("room") == room
        and field(sent, "sender", "name") == me
        and sent.get("client_id") == client_id,
        f"got {show(ack)}",
    )

    in_room = lambda m: field(m, "room") == room  # noqa: E731
    delivered = await peer.wait_for(
        "message:new", lambda m: in_room(m) and field(m, "seq") == sent["seq"]
    )
    check(
        "the peer receives message:new with the same seq",
        delivered is not None and delivered.get("body") == body and delivered.get("id") == sent.get("id"),
        f"expected seq {sent['seq']}, peer received {show(peer.received('message:new'))}",
    )
    if args.stream:
        read = [(field(m, "stream"), field(draft, "text")) for m, draft in peer.streamed]
        check(
            "the peer read it as the stream's message, once, replacing the draft it built",
            read == [(sent.get("stream"), body)] and not peer.drafts,
            f"peer read {show(read)}, drafts left {show(peer.drafts)}",
        )
    await asyncio.sleep(QUIET)
    check(
        "the sending socket does not get its own message back",
        not agent.received("message:new", in_room),
        f"received {show(agent.received('message:new'))}",
    )

    step = "message:send (repeated client_id)"
    ack = await agent.call("message:send", {"room": room, "body": "a retry", "client_id": client_id})
    check(
        "repeating client_id returns the stored message with duplicate:true",
        field(ack, "ok") is True
        and field(ack, "duplicate") is True
        and field(ack, "message", "seq") == sent["seq"]
        and field(ack, "message", "body") == body,
        f"got {show(ack)}",
    )
    await asyncio.sleep(QUIET)
    check(
        "a duplicate is not broadcast again",
        len(peer.received("message:new", in_room)) == 1,
        f"peer received {show(peer.received('message:new'))}",
    )
    check(
        "the peer would rejoin after a reconnect with since = that seq",
        peer.rooms.get(room) == {sent["seq"]},
        f"peer follows {show({r: sorted(seen) for r, seen in peer.rooms.items()})}",
    )

    # -- Direct messages ------------------------------------------------------------------------
    step = "dm:send"
    dm_room = "dm:" + ":".join(sorted([me, peer_name]))
    ack = await agent.call("dm:send", {"to": peer_name, "body": "psst", "client_id": f"{client_id}-dm"})
    check(
        f"dm:send acks a message in {dm_room}",
        field(ack, "ok") is True
        and field(ack, "message", "room") == dm_room
        and field(ack, "message", "body") == "psst",
        f"got {show(ack)}",
    )
    dm = await peer.wait_for(
        "message:new",
        lambda m: field(m, "room") == dm_room and field(m, "seq") == field(ack, "message", "seq"),
    )
    check(
        "the peer receives the DM",
        dm is not None and dm.get("body") == "psst" and field(dm, "sender", "name") == me,
        f"peer received {show(peer.received('message:new'))}",
    )

    # -- History --------------------------------------------------------------------------------
    step = "message:history"
    ack = await agent.call("message:history", {"room": room, "limit": 10})
    messages = field(ack, "messages")
    check(
        "message:history returns the message once, ascending",
        field(ack, "ok") is True
        and isinstance(messages, list)
        and len(messages) == 1
        and field(messages, 0, "seq") == sent["seq"]
        and field(messages, 0, "body") == body
        and field(ack, "has_more") is False,
        f"got {show(ack)}",
    )

    # -- Presence -------------------------------------------------------------------------------
    step = "presence:set"
    note = "writing the weekly report"
    ack = await agent.call("presence:set", {"status": "busy", "note": note})
    check(
        "presence:set acks our member as busy",
        field(ack, "ok") is True
        and field(ack, "member", "status") == "busy"
        and field(ack, "member", "note") == note
        and field(ack, "member", "agent", "name") == me,
        f"got {show(ack)}",
    )
    update = await peer.wait_for(
        "presence:update",
        lambda d: field(d, "room") == room
        and field(d, "member", "agent", "name") == me
        and field(d, "member", "status") == "busy",
    )
    check(
        "the peer receives presence:update",
        update is not None and field(update, "member", "note") == note,
        f"peer received {show(peer.received('presence:update'))}",
    )

    step = "presence:list"
    ack = await peer.call("presence:list", {"room": room})
    members = field(ack, "members") or []
    mine = next((m for m in members if field(m, "agent", "name") == me), None)
    check(
        "presence:list shows both agents, ordered by name, ours busy",
        field(ack, "ok") is True
        and [field(m, "agent", "name") for m in members] == sorted([me, peer_name])
        and field(mine, "status") == "busy"
        and field(mine, "note") == note,
        f"got {show(ack)}",
    )

    step = "room:leave"
    ack = await agent.call("room:leave", {"room": room})
    check("room:leave acks ok", field(ack, "ok") is True, f"got {show(ack)}")
    del agent.rooms[room]  # left: no longer rejoined on a reconnect
    left = await peer.wait_for(
        "presence:leave", lambda d: field(d, "room") == room and field(d, "agent", "name") == me
    )
    check(
        "the peer receives presence:leave",
        left is not None,
        f"peer received {show(peer.received('presence:leave'))}",
    )

    # -- Errors ---------------------------------------------------------------------------------
    step = "bad events"
    for name, event, payload in [
        ("an unknown event is answered bad_request", "no:such-event", {"room": room}),
        ("a payload that is not a JSON object is answered bad_request", "message:send", "not an object"),
    ]:
        ack = await agent.call(event, payload)
        check(
            name,
            field(ack, "ok") is False
            and field(ack, "error", "code") == "bad_request"
            and isinstance(field(ack, "error", "message"), str),
            f"got {show(ack)}",
        )

    # -- Transport report -----------------------------------------------------------------------
    if args.transport == "polling":
        upgraded = agent.sio.transport() == "websocket"
        print(
            f"info  upgraded from polling to websocket: {'yes' if upgraded else 'no'}"
            f" (transport now {agent.sio.transport()})"
        )

    step = "disconnecting"
    await agent.disconnect()
    await peer.disconnect()
    check("both agents disconnected", not agent.sio.connected and not peer.sio.connected)
    print("PASS  all checks passed", flush=True)


async def main():
    parser = argparse.ArgumentParser(description="An AgentHub agent that checks the hub (SPEC §5).")
    parser.add_argument("--url", required=True, help="the hub, e.g. http://127.0.0.1:3000")
    parser.add_argument("--key", required=True, help="your agent's API key (ahk_...)")
    parser.add_argument("--peer-key", help="a second agent's API key (needed unless --serve)")
    parser.add_argument("--transport", choices=["polling", "websocket"], default="websocket")
    parser.add_argument("--room", help="room to use (default: a fresh one)")
    parser.add_argument(
        "--stream", action="store_true", help="stream the message in chunks instead of sending it whole"
    )
    parser.add_argument(
        "--serve", metavar="METHOD", help="be a callee: publish a card listing METHOD and answer calls to it"
    )
    parser.add_argument(
        "--calls", type=int, default=1, metavar="N", help="with --serve: exit after N calls (0: until a signal)"
    )
    args = parser.parse_args()  # exits 2 on a usage error
    if args.serve is None and args.peer_key is None:
        parser.error("the following arguments are required: --peer-key (or --serve METHOD)")
    if args.calls < 0:
        parser.error("--calls must be 0 or more")

    agents = []
    try:
        if args.serve is not None:
            await asyncio.wait_for(serve(args, agents), GLOBAL_TIMEOUT if args.calls else None)
        else:
            await asyncio.wait_for(walk(args, agents), GLOBAL_TIMEOUT)
        return 0
    except CheckFailed as exc:
        print(f"FAIL  {exc}", file=sys.stderr, flush=True)
    except asyncio.TimeoutError:
        print(f"FAIL  timed out after {GLOBAL_TIMEOUT:.0f} s during: {step}", file=sys.stderr, flush=True)
    except Exception as exc:  # noqa: BLE001 - report anything unexpected as a failure
        print(f"FAIL  {step}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    finally:
        for a in agents:
            try:
                await asyncio.wait_for(a.disconnect(), 2)
            except Exception:  # noqa: BLE001
                pass
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
