#!/usr/bin/env python3
"""TEST TOOLING, not an example to copy (agent.py is the example): a fleet of stock
python-socketio AsyncClients in one process, which the integration tests run across server
restarts and rolling deploys to prove that clients with DEFAULT reconnection settings come back
by themselves. There is no application retry code on purpose: the library must do it all.

    python fleet.py --plan FILE
    FILE: {"url","sockets":[{"key","transport":"websocket"|"polling","rooms":[...]}],
           "producer":null|{"key","room","interval_ms","prefix","transport"?: default websocket}}

On every `connect` each client rejoins its rooms with `since` = the seq up to which it has every
message (gap-free: messages committed on different nodes may arrive out of order) and keeps per room seq -> body (same body again: a duplicate, counted; another body: a
conflict). stdout is JSON lines: ready, connect_error, reconnect_error, disconnect,
reconnected, join_error, report (socket -1 is the producer). stdin: `report`; `stop` or EOF
disconnects everything and exits 0. A bad plan exits 2.

Two kinds of connect_error are kept apart, by where they come from:
 - connect_errors: the server refused the Socket.IO connect (a CONNECT_ERROR packet, e.g.
   "unauthorized", "Invalid namespace"), or the first connect() failed (never called again);
 - reconnect_errors: an attempt to open the Engine.IO transport failed (e.g. "Connection
   refused by the server") while the library was reconnecting; it keeps retrying.
"""

import asyncio
import json
import sys

import socketio

JOIN_TIMEOUT = 5.0
SEND_TIMEOUT = 3.0
MAX_SEND_ERRORS = 100


def out(obj):
    print(json.dumps(obj), flush=True)


def fail(message):
    print(f"fleet.py: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def load_plan():
    if len(sys.argv) != 3 or sys.argv[1] != "--plan":
        fail("usage: python fleet.py --plan FILE")
    try:
        with open(sys.argv[2], encoding="utf-8") as f:
            plan = json.load(f)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the plan: {exc}")
    is_str = lambda v: isinstance(v, str) and v != ""  # noqa: E731
    if not isinstance(plan, dict) or not is_str(plan.get("url")) or not isinstance(plan.get("sockets"), list):
        fail("plan needs url and sockets[]")
    for n, s in enumerate(plan["sockets"]):
        if not (isinstance(s, dict) and is_str(s.get("key")) and s.get("transport") in ("websocket", "polling")
                and isinstance(s.get("rooms"), list) and all(map(is_str, s["rooms"]))):
            fail(f"sockets[{n}] needs key, transport websocket|polling and rooms[]")
    p = plan.get("producer")
    if p is not None and not (
        isinstance(p, dict) and is_str(p.get("key")) and is_str(p.get("room")) and is_str(p.get("prefix"))
        and isinstance(p.get("interval_ms"), (int, float)) and p["interval_ms"] >= 0
        and p.get("transport", "websocket") in ("websocket", "polling")
    ):
        fail("producer needs key, room, interval_ms, prefix (and optionally transport)")
    return plan


class Client:
    def __init__(self, index, url, key, transport, rooms, on_ready):
        self.index, self.url, self.key, self.room_names, self.on_ready = index, url, key, rooms, on_ready
        # "polling" = the library default (polling, then upgrade); "websocket" = WebSocket only.
        self.transports = ["websocket"] if transport == "websocket" else None
        self.rooms = {r: {} for r in rooms}  # room -> {seq: body}
        self.top = {r: 0 for r in rooms}  # room -> seq up to which every message was seen
        self.connects = self.duplicates = self.truncated_joins = 0
        self.ready = self.started = False
        self.reasons, self.connect_errors, self.reconnect_errors = [], [], []
        self.join_errors, self.conflicts, self.tasks = [], [], set()
        self.sio = sio = socketio.AsyncClient()  # every reconnection setting at its default

        @sio.event
        async def connect():
            self.connects += 1
            task = asyncio.create_task(self.join_all(self.connects))  # never block the handler
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        @sio.event
        async def disconnect(reason):
            self.ready = False
            self.reasons.append(str(reason))
            out({"event": "disconnect", "socket": index, "reason": str(reason)})

        @sio.event
        async def connect_error(data=None):
            message = data.get("message", json.dumps(data)) if isinstance(data, dict) else str(data)
            # A CONNECT_ERROR packet arrives over an open Engine.IO connection; a failed attempt
            # to reach the server leaves it closed.
            refused = sio.eio.state == "connected"
            if not refused and not self.started:
                return  # the first connect() failed: start() records it
            (self.connect_errors if refused else self.reconnect_errors).append(message)
            out({"event": "connect_error" if refused else "reconnect_error", "socket": index, "message": message})

        @sio.on("message:new")
        async def message_new(m):
            self.see(m)

    async def start(self):
        refusals = len(self.connect_errors)
        try:
            await self.sio.connect(self.url, auth={"token": self.key}, transports=self.transports)
        except socketio.exceptions.ConnectionError as exc:  # the first connect: final, never retried
            if len(self.connect_errors) == refusals:
                self.connect_errors.append(str(exc))
                out({"event": "connect_error", "socket": self.index, "message": str(exc)})
        self.started = True

    def see(self, m):
        if not isinstance(m, dict) or not isinstance(m.get("room"), str) or not isinstance(m.get("seq"), int):
            return
        room, seq, body = m["room"], m["seq"], m.get("body")
        seen = self.rooms.setdefault(room, {})
        if seq not in seen:
            seen[seq] = body
            top = self.top.get(room, 0)
            while top + 1 in seen:
                top += 1
            self.top[room] = top
        elif seen[seq] == body:
            self.duplicates += 1
        else:
            self.conflicts.append({"room": room, "seq": seq, "first": seen[seq], "second": body})

    async def join(self, room, generation):
        try:
            ack = await self.sio.call("room:join", {"room": room, "since": self.top.get(room, 0)},
                                      timeout=JOIN_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - TimeoutError, BadNamespaceError (disconnected)
            ack = {"ok": False, "error": {"code": "no_ack", "message": f"{type(exc).__name__}: {exc}"}}
        if isinstance(ack, dict) and ack.get("ok") is True:
            for m in ack.get("missed") or []:
                self.see(m)
            self.truncated_joins += bool(ack.get("missed_truncated"))
            return True
        # A join lost with its connection is redone by the next `connect`: not an error.
        if generation == self.connects and self.sio.connected:
            error = {"room": room, "connect": generation, "ack": ack}
            self.join_errors.append(error)
            out({"event": "join_error", "socket": self.index, **error})
        return False

    async def join_all(self, generation):
        results = await asyncio.gather(*(self.join(r, generation) for r in self.room_names))
        if generation != self.connects or not self.sio.connected or not all(results):
            return
        self.ready = True
        if generation == 1:
            self.on_ready()
        else:
            out({"event": "reconnected", "socket": self.index})

    def entry(self):
        return {
            "connects": self.connects, "connected": self.sio.connected, "disconnect_reasons": self.reasons,
            "connect_errors": self.connect_errors, "reconnect_errors": self.reconnect_errors,
            "join_errors": self.join_errors, "duplicates": self.duplicates, "conflicts": self.conflicts,
            "truncated_joins": self.truncated_joins,
            "rooms": {r: {str(s): b for s, b in sorted(seen.items())} for r, seen in self.rooms.items()},
        }


async def produce(client, p, acked, send_errors):
    """Sends prefix-1, prefix-2, ... one at a time; a lost or failed send is retried with the
    SAME client_id once the client is back (and rejoined), so no message is acked twice."""
    n = 1
    while True:
        if not client.ready:
            await asyncio.sleep(0.02)
            continue
        body = f"{p['prefix']}-{n}"
        try:
            ack = await client.sio.call("message:send", {"room": p["room"], "body": body, "client_id": body},
                                        timeout=SEND_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - TimeoutError, BadNamespaceError (disconnected)
            ack = {"ok": False, "error": {"code": "no_ack", "message": f"{type(exc).__name__}: {exc}"}}
        ack = ack if isinstance(ack, dict) else {"ok": False, "error": {"code": "bad_ack", "message": repr(ack)}}
        message = ack.get("message")
        if ack.get("ok") is True and isinstance(message, dict) and isinstance(message.get("seq"), int):
            seq = message["seq"]
            if acked.get(seq, body) != body:
                client.conflicts.append({"room": p["room"], "seq": seq, "first": acked[seq], "second": body})
            acked[seq] = body
            n += 1
        elif len(send_errors) < MAX_SEND_ERRORS:
            send_errors.append({"body": body, "error": ack.get("error", ack)})
        await asyncio.sleep(p["interval_ms"] / 1000)


async def stdin_lines():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield line.decode(errors="replace").strip()


async def main():
    plan = load_plan()
    p = plan.get("producer")
    pending = [len(plan["sockets"]) + (1 if p else 0)]

    def ready_one():
        pending[0] -= 1
        if pending[0] == 0:
            out({"event": "ready"})

    clients = [Client(i, plan["url"], s["key"], s["transport"], s["rooms"], ready_one)
               for i, s in enumerate(plan["sockets"])]
    producer, acked, send_errors, producing = None, {}, [], None
    if p:
        producer = Client(-1, plan["url"], p["key"], p.get("transport", "websocket"), [p["room"]], ready_one)
        producing = asyncio.create_task(produce(producer, p, acked, send_errors))
    if pending[0] == 0:
        out({"event": "ready"})
    everyone = clients + ([producer] if producer else [])
    starting = asyncio.gather(*(c.start() for c in everyone))

    async for command in stdin_lines():
        if command == "stop":
            break
        if command == "report":
            out({
                "event": "report",
                "connected": sum(c.sio.connected for c in clients),
                "sockets": [c.entry() for c in clients],
                "producer": producer and {
                    **producer.entry(),
                    "acked": {str(s): b for s, b in sorted(acked.items())},
                    "send_errors": send_errors,
                },
            })
        elif command:
            print(f"fleet.py: unknown command {command!r}", file=sys.stderr, flush=True)

    if producing:
        producing.cancel()
    starting.cancel()
    await asyncio.gather(*(c.sio.shutdown() for c in everyone), return_exceptions=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
