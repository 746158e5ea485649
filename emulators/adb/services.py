"""The services a served device offers on an opened stream: ``shell:``, ``exec:`` and ``sync:``.

``open_service`` returns the function a stream's worker thread runs, or None for an unknown service (the
connection then answers CLSE). Calls into the device hold the device lock: a device is not thread-safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from emulators.adb.protocol import StreamClosed
from emulators.adb.stream import Stream
from emulators.adb.sync import SyncSession, file_access
from emulators.device import AndroidDevice
from emulators.errors import DeviceError

log = logging.getLogger(__name__)


def _shell_output(device: AndroidDevice, lock: threading.Lock, cmd: str) -> bytes:
    with lock:
        try:
            result = device.shell(cmd)
        except DeviceError as e:
            return f"{e}\n".encode()
    return result.output.encode("utf-8", errors="surrogateescape")


def _exec_output(device: AndroidDevice, lock: threading.Lock, cmd: str) -> bytes:
    exec_out = getattr(device, "exec_out", None)
    if exec_out is None:
        return _shell_output(device, lock, cmd)
    with lock:
        try:
            return bytes(exec_out(cmd))
        except DeviceError as e:
            return f"{e}\n".encode()


def _run_command(stream: Stream, produce: Callable[[], bytes]) -> None:
    try:
        stream.write(produce())
    except StreamClosed as e:
        log.debug("stream ended early: %s", e)
    finally:
        stream.close()


def _run_sync(stream: Stream, device: AndroidDevice, lock: threading.Lock) -> None:
    session = SyncSession(file_access(device), max_push_bytes=stream.conn.config.limits.max_push_bytes)
    try:
        while not session.finished:
            data = stream.read()
            if data is None:
                return
            with lock:
                reply = session.feed(data)
            if reply:
                stream.write(reply)
    except StreamClosed as e:
        log.debug("sync stream ended early: %s", e)
    finally:
        stream.close()


def open_service(destination: str, stream: Stream, device: AndroidDevice,
                 lock: threading.Lock) -> Callable[[], None] | None:
    """The worker for ``destination`` (``shell:CMD``, ``exec:CMD``, ``sync:``), or None if unknown."""
    service, sep, arg = destination.partition(":")
    if not sep:
        return None
    if service == "shell" and arg.strip():
        return lambda: _run_command(stream, lambda: _shell_output(device, lock, arg))
    if service == "exec" and arg.strip():
        return lambda: _run_command(stream, lambda: _exec_output(device, lock, arg))
    if service == "sync" and not arg:
        stream.discard_input = False
        return lambda: _run_sync(stream, device, lock)
    return None
