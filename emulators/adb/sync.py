"""The device side of the ADB ``sync:`` service (STAT, LIST, RECV, SEND, QUIT), version 1.

Sync is a byte stream carried in WRTE payloads: a request or reply may be split across packets anywhere,
so ``SyncSession.feed`` buffers bytes and parses them by length. Files are reached through the small
``FileAccess`` interface; ``file_access(device)`` finds it on a served device.

``SEND`` takes ``PATH,MODE`` with MODE in ASCII decimal digits (anything else fails that transfer with a
FAIL naming the mode, its data is skipped and the session goes on). A pushed file holds at most
``max_push_bytes`` (the served device's storage): past it the transfer fails with "No space left on device"
at once, nothing more of it is buffered and the session ends, as adbd closes the socket on a failed write.
"""

from __future__ import annotations

import posixpath
import stat as stat_mod
import struct
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

REQUEST = struct.Struct("<4sI")
STAT_REPLY = struct.Struct("<4s3I")
DENT = struct.Struct("<4s4I")
MAX_PATH = 1024
MAX_DATA = 64 * 1024
MAX_MODE = 0xFFFFFFFF  # st_mode travels as a 32-bit word elsewhere in sync
DEFAULT_PUSH_BYTES = 256 << 20


@dataclass(frozen=True)
class FileStat:
    mode: int  # st_mode: file type bits and permissions
    size: int
    mtime: int  # seconds since the epoch


class SyncFileError(Exception):
    """A sync request names a path that cannot be read or written; the message goes back in a FAIL."""


@runtime_checkable
class FileAccess(Protocol):
    """Files of a served device. Paths are absolute and normalised; missing paths raise ``SyncFileError``."""

    def stat(self, path: str) -> FileStat | None: ...

    def list_dir(self, path: str) -> list[tuple[str, FileStat]]: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes, mode: int, mtime: int) -> None: ...


class PhoneFiles:
    """``FileAccess`` over PhoneSim's ``PhoneState.files`` with the shell's path aliases and permissions."""

    def __init__(self, state: Any) -> None:
        from types import SimpleNamespace

        from emulators.phonesim.shell.fs import SimFs

        self.state = state
        self.fs = SimFs(SimpleNamespace(state=state))

    @staticmethod
    def _stat(node: Any) -> FileStat:
        kind = stat_mod.S_IFDIR if node.is_dir else stat_mod.S_IFREG
        size = 0 if node.is_dir else len(node.data)
        return FileStat(kind | (node.mode & 0o7777), size, node.mtime_ms // 1000)

    def stat(self, path: str) -> FileStat | None:
        node = self.fs.node(self.fs.resolve("/", path))
        return None if node is None else self._stat(node)

    def list_dir(self, path: str) -> list[tuple[str, FileStat]]:
        path = self.fs.resolve("/", path)
        if not self.fs.is_dir(path):
            raise SyncFileError(f"{path}: No such file or directory")
        nodes = [(name, self.fs.node(self.fs.resolve(path, name))) for name in self.fs.children(path)]
        return [(name, self._stat(node)) for name, node in nodes if node is not None]

    def read_file(self, path: str) -> bytes:
        from emulators.phonesim.shell.fs import FsError

        try:
            return bytes(self.fs.read(self.fs.resolve("/", path)))
        except FsError as e:
            raise SyncFileError(f"{path}: {e.reason}") from e

    def write_file(self, path: str, data: bytes, mode: int, mtime: int) -> None:
        from emulators.phonesim.shell.fs import FsError
        from emulators.phonesim.state import FileNode

        path = self.fs.resolve("/", path)
        try:
            self.fs.check_writable(path)
            if self.fs.is_dir(path):
                raise FsError("Is a directory")
            missing = []
            parent = self.fs.parent(path)
            while self.fs.node(parent) is None:  # adbd creates missing parent directories
                missing.append(parent)
                parent = self.fs.parent(parent)
            if not self.fs.is_dir(parent):
                raise FsError("Not a directory")
            for directory in reversed(missing):
                self.fs.mkdir(directory)
        except FsError as e:
            raise SyncFileError(f"{path}: {e.reason}") from e
        self.state.files[path] = FileNode(is_dir=False, data=bytes(data), mtime_ms=mtime * 1000,
                                          mode=mode & 0o7777)
        self.state.touch()


def file_access(device: Any) -> FileAccess | None:
    """The device's own ``FileAccess`` methods, else an adapter over ``device.phone.state.files``."""
    if isinstance(device, FileAccess):
        return device
    state = getattr(getattr(device, "phone", None), "state", None)
    if isinstance(getattr(state, "files", None), dict):
        return PhoneFiles(state)
    return None


def _fail(message: str) -> bytes:
    data = message.encode()
    return REQUEST.pack(b"FAIL", len(data)) + data


class SyncSession:
    """Parses host sync requests from a byte stream and produces the reply bytes."""

    def __init__(self, files: FileAccess | None, max_push_bytes: int = DEFAULT_PUSH_BYTES) -> None:
        self.files = files
        self.max_push_bytes = max_push_bytes
        self.buffer = bytearray()
        self.finished = False
        self._send_target: tuple[str, int] | None = None
        self._send_error: str | None = None  # the current SEND failed: skip its DATA, FAIL at DONE
        self._send_data = bytearray()

    def feed(self, data: bytes) -> bytes:
        """Consume bytes from the host; return the reply bytes (possibly empty). Sets ``finished`` on QUIT."""
        self.buffer += data
        out = bytearray()
        while not self.finished and len(self.buffer) >= REQUEST.size:
            ident, length = REQUEST.unpack_from(self.buffer)
            has_payload = not (ident == b"DONE" or ident == b"QUIT")
            limit = MAX_DATA if ident == b"DATA" else MAX_PATH
            if has_payload and length > limit:
                out += _fail(f"sync request {ident!r} too long ({length} bytes)")
                self.finished = True
                break
            size = REQUEST.size + (length if has_payload else 0)
            if len(self.buffer) < size:
                break
            payload = bytes(self.buffer[REQUEST.size:size])
            del self.buffer[:size]
            out += self._handle(ident, length, payload)
        return bytes(out)

    def _handle(self, ident: bytes, length: int, payload: bytes) -> bytes:
        if self._send_target is not None:
            return self._handle_send_part(ident, length, payload)
        if ident == b"QUIT":
            self.finished = True
            return b""
        handlers = {b"STAT": self._stat, b"LIST": self._list, b"RECV": self._recv, b"SEND": self._send}
        handler = handlers.get(ident)
        if handler is None:
            self.finished = True
            return _fail(f"unknown sync request {ident!r}")
        if self.files is None:
            return _fail("this device has no file access over sync")
        try:
            return handler(payload.decode("utf-8", errors="surrogateescape"))
        except SyncFileError as e:
            return _fail(str(e))

    def _stat(self, path: str) -> bytes:
        st = self.files.stat(_norm(path)) if self.files else None
        if st is None:
            return STAT_REPLY.pack(b"STAT", 0, 0, 0)
        return STAT_REPLY.pack(b"STAT", st.mode, st.size & 0xFFFFFFFF, st.mtime & 0xFFFFFFFF)

    def _list(self, path: str) -> bytes:
        assert self.files is not None
        path = _norm(path)
        own = self.files.stat(path)
        if own is None or not stat_mod.S_ISDIR(own.mode):
            return DENT.pack(b"DONE", 0, 0, 0, 0)
        entries = [(".", own), ("..", self.files.stat(posixpath.dirname(path)) or own)]
        out = bytearray()
        for name, st in entries + self.files.list_dir(path):
            raw = name.encode("utf-8", errors="surrogateescape")
            out += DENT.pack(b"DENT", st.mode, st.size & 0xFFFFFFFF, st.mtime & 0xFFFFFFFF, len(raw)) + raw
        return bytes(out + DENT.pack(b"DONE", 0, 0, 0, 0))

    def _recv(self, path: str) -> bytes:
        assert self.files is not None
        data = self.files.read_file(_norm(path))
        out = bytearray()
        for start in range(0, len(data), MAX_DATA):
            chunk = data[start:start + MAX_DATA]
            out += REQUEST.pack(b"DATA", len(chunk)) + chunk
        return bytes(out + REQUEST.pack(b"DONE", 0))

    def _send(self, spec: str) -> bytes:
        path, sep, mode_text = spec.rpartition(",")
        mode = _mode(mode_text) if sep else None
        self._send_target = (_norm(path if sep else spec), mode or 0)
        self._send_data.clear()
        if not sep:
            self._send_error = "missing , in ID_SEND (expected PATH,MODE)"
        elif mode is None:
            self._send_error = f"bad mode {mode_text[:20]!r} in ID_SEND (expected decimal digits)"
        else:
            self._send_error = None
        return b""

    def _handle_send_part(self, ident: bytes, length: int, payload: bytes) -> bytes:
        assert self._send_target is not None and self.files is not None
        if ident == b"DATA":
            if self._send_error is None and len(self._send_data) + len(payload) > self.max_push_bytes:
                path = self._send_target[0]
                self._send_target = None
                self._send_data = bytearray()
                self.finished = True
                return _fail(f"{path}: No space left on device (this device holds at most "
                             f"{self.max_push_bytes} bytes per pushed file)")
            if self._send_error is None:
                self._send_data += payload
            return b""
        path, mode = self._send_target
        self._send_target = None
        error, self._send_error = self._send_error, None
        if ident != b"DONE":
            self.finished = True
            return _fail(f"expected DATA or DONE during SEND, got {ident!r}")
        if error is not None:
            return _fail(error)
        try:
            self.files.write_file(path, bytes(self._send_data), mode, length)
        except SyncFileError as e:
            return _fail(str(e))
        finally:
            self._send_data = bytearray()
        return REQUEST.pack(b"OKAY", 0)


def _mode(text: str) -> int | None:
    """A SEND's mode: ASCII decimal digits up to 32 bits, else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > MAX_MODE:
        return None
    return int(text)


def _norm(path: str) -> str:
    if not path.startswith("/"):
        path = "/" + path
    return posixpath.normpath(path).replace("//", "/")
