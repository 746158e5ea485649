"""A synchronous Chrome DevTools Protocol client over one WebSocket (``websocket-client``).

One connection to the browser carries the commands of every page: each page is a target attached in
flat mode, and its commands name the target's ``sessionId``. A reader thread matches answers to
commands by id, so threads driving different pages never wait for each other's answers. Events are
ignored (the device polls the page state it needs). When the socket closes (the browser died), every
waiting and later command raises ``DeviceUnreachable``.
"""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import websocket

from emulators.errors import DeviceError, DeviceTimeout, DeviceUnreachable


class CdpError(DeviceError):
    """The browser answered a command with an error (a bad parameter, a closed target)."""


class _Pending:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.reply: dict[str, Any] | None = None


class CdpConnection:
    """Commands to a browser's DevTools WebSocket; safe to use from many threads."""

    def __init__(self, ws_url: str, *, timeout_s: float = 30.0) -> None:
        try:
            self._ws = websocket.create_connection(ws_url, timeout=timeout_s, suppress_origin=True)
        except (OSError, websocket.WebSocketException) as e:
            raise DeviceUnreachable(f"cannot reach the browser's DevTools at {ws_url}: {e}") from e
        self._ws.settimeout(None)  # the reader blocks; commands time out on their own events
        self.timeout_s = timeout_s
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self.closed_because: str | None = None
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self.closed_because is None

    def send(
        self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Run one command and return its result; raise ``CdpError`` for an error answer."""
        waiter = _Pending()
        with self._lock:
            if self.closed_because is not None:
                raise DeviceUnreachable(f"the browser connection is closed ({self.closed_because})")
            cid = next(self._ids)
            self._pending[cid] = waiter
        message: dict[str, Any] = {"id": cid, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        try:
            self._ws.send(json.dumps(message))
        except (OSError, websocket.WebSocketException) as e:
            self._fail(f"sending failed: {e}")
        limit = self.timeout_s if timeout_s is None else timeout_s
        if not waiter.done.wait(limit):
            with self._lock:
                self._pending.pop(cid, None)
            raise DeviceTimeout(f"the browser did not answer {method} within {limit:g} s")
        reply = waiter.reply
        if reply is None:
            raise DeviceUnreachable(f"the browser connection closed during {method} ({self.closed_because})")
        if "error" in reply:
            err = reply["error"]
            raise CdpError(f"{method}: {err.get('message', err)} {err.get('data', '')}".rstrip())
        return reply.get("result", {})

    def _read(self) -> None:
        while True:
            try:
                raw = self._ws.recv()
            except (OSError, websocket.WebSocketException) as e:
                self._fail(f"the socket closed: {type(e).__name__}")
                return
            if not raw:
                self._fail("the browser closed the socket")
                return
            message = json.loads(raw)
            cid = message.get("id")
            if cid is None:
                continue  # an event
            with self._lock:
                waiter = self._pending.pop(cid, None)
            if waiter is not None:
                waiter.reply = message
                waiter.done.set()

    def _fail(self, why: str) -> None:
        with self._lock:
            if self.closed_because is None:
                self.closed_because = why
            pending, self._pending = self._pending, {}
        for waiter in pending.values():
            waiter.done.set()

    def close(self) -> None:
        self._fail("closed by the client")
        try:
            self._ws.close()
        except (OSError, websocket.WebSocketException):
            pass
