"""bp serve's connections, bounded in time and in number: Uvicorn's HTTP/1.1 protocol (h11)
with a deadline on each request's head and a cap on open connections.

Uvicorn times out a connection only between requests (keep-alive): a client that sends half a
request head, then nothing (or a byte a second), would hold its connection forever, and a
thousand such clients would starve everyone else. Here a request's head must arrive whole
within the read deadline (from the connection's opening, or from the end of the previous
answer) or the connection gets 408 and is closed; its body has the same deadline, kept by
the application (bpcli.views.web.server). Past the cap on open connections, a new one makes
room by closing the oldest connection that has no request in progress (one still sending its
head, or idle between requests); when every connection has a request in progress, the new
one gets 503. When the server stops, `stopping()` is set, so that requests in progress answer
503 at once instead of being cancelled.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

ENV = "BP_SERVE_LIMITS"  # the limits bp serve hands to every server process (bpcli.views.web.server)
READ_SECONDS, MAX_CONNECTIONS = 10.0, 100

_STOPPING: asyncio.Event | None = None


def stopping() -> asyncio.Event:
    """Set when this server process begins to stop (Ctrl-C, SIGTERM)."""
    global _STOPPING
    if _STOPPING is None:
        _STOPPING = asyncio.Event()
    return _STOPPING


@functools.cache
def settings() -> tuple[float, int]:
    """(seconds a request's head and body may take to arrive, connections open at most)."""
    limits = json.loads(os.environ.get(ENV, "{}"))
    return limits.get("read_seconds", READ_SECONDS), limits.get("max_connections", MAX_CONNECTIONS)


def raw_answer(status: str, body: dict, *extra: str) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for a connection with no request in
    progress (h11 can only answer a request it has read)."""
    data = json.dumps(body).encode()
    head = [f"HTTP/1.1 {status}", "content-type: application/json", f"content-length: {len(data)}",
            "connection: close", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def error(reason: str, kind: str, hint: str) -> dict:
    return {"error": reason, "kind": kind, "position": None, "caret": None, "hint": hint}


class GuardedH11Protocol(H11Protocol):
    """Uvicorn's h11 protocol with a deadline on request heads and a cap on connections."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.read_seconds, self.max_connections = settings()
        self.opened = self.loop.time()
        self.head_timer: asyncio.TimerHandle | None = None
        self.heard = False  # bytes of the current request's head have arrived
        if len(self.connections) > self.max_connections and not self._make_room():
            self.transport.write(raw_answer("503 Service Unavailable", error(
                f"this server has {self.max_connections:,} connections open, each with a request in "
                "progress", "busy", "try again in a moment"), "retry-after: 1"))
            self.transport.close()
            return
        self._watch_head()

    def _idle(self) -> bool:
        """No request in progress: waiting for a head (part of one, or none yet)."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _make_room(self) -> bool:
        """Close the oldest connection with no request in progress; False if there is none."""
        others = [c for c in self.connections if c is not self and isinstance(c, GuardedH11Protocol)
                  and c._idle() and not c.transport.is_closing()]
        if not others:
            return False
        min(others, key=lambda c: (not c.heard, c.opened))._expire()  # half-sent heads go first
        return True

    def data_received(self, data: bytes) -> None:
        if data and self.conn.their_state is h11.IDLE:
            self.heard = True
        super().data_received(data)
        self._watch_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.heard = False
        self._watch_head()

    def _watch_head(self) -> None:
        """Arm the head's deadline while a head is awaited; disarm it once one has arrived."""
        if self.transport.is_closing():
            self._disarm()
        elif self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete):
            if self.head_timer is None:
                self.head_timer = self.loop.call_later(self.read_seconds, self._expire)
        else:
            self._disarm()

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _expire(self) -> None:
        """A head that did not arrive in time (or room needed): 408 if part of it came, then close."""
        self._disarm()
        if self.transport.is_closing():
            return
        if self.heard:
            self.transport.write(raw_answer("408 Request Timeout", error(
                f"the request's head did not arrive within {self.read_seconds:g} s, this server's limit",
                "too slow", "send the whole request at once")))
        self.transport.close()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        stopping().set()
        self._disarm()
        super().shutdown()
