"""The emulator console: a line protocol on the console port (TCP, loopback only).

On connect the console prints a banner; since emulator 27 it then asks for ``auth <token>`` with the token
from ``~/.emulator_console_auth_token`` (an empty file turns auth off). Every command is answered by lines
ending with one that starts ``OK`` or ``KO: <why>``.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from emulators.errors import EmulatorFailed

DEFAULT_TOKEN_PATH = Path("~/.emulator_console_auth_token")


def read_auth_token(path: str | os.PathLike[str] | None = None) -> str:
    """The console auth token ('' when the file is empty: the console then asks for none)."""
    token_path = Path(path or DEFAULT_TOKEN_PATH).expanduser()
    try:
        return token_path.read_text().strip()
    except OSError as e:
        raise EmulatorFailed(f"cannot read the emulator console token {token_path} ({e}); the "
                             "emulator writes it on its first start, or pass token_path") from e


class EmulatorConsole:
    """One authenticated console session; use as a context manager."""

    def __init__(self, port: int, token_path: str | os.PathLike[str] | None = None, host: str = "127.0.0.1",
                 timeout_s: float = 10.0) -> None:
        self.address = f"{host}:{port}"
        self.timeout_s = timeout_s
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as e:
            raise EmulatorFailed(f"no emulator console at {self.address} ({e}); is the emulator running?"
                                 ) from e
        self._buffer = b""
        try:
            banner = self._reply()
            if "auth" in banner.lower():
                self.command(f"auth {read_auth_token(token_path)}")
        except EmulatorFailed:
            self.close()
            raise

    def _line(self, deadline: float) -> str:
        while b"\n" not in self._buffer:
            self._sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self._sock.recv(4096)
            except TimeoutError as e:
                raise EmulatorFailed(f"emulator console {self.address} did not answer in {self.timeout_s}s"
                                     ) from e
            except OSError as e:
                raise EmulatorFailed(f"emulator console {self.address} broke: {e}") from e
            if not chunk:
                raise EmulatorFailed(f"emulator console {self.address} closed the connection")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")

    def _reply(self) -> str:
        """Lines up to and including the closing OK; a KO line raises ``EmulatorFailed``."""
        deadline = time.monotonic() + self.timeout_s
        lines: list[str] = []
        while True:
            line = self._line(deadline)
            if line.startswith("KO"):
                raise EmulatorFailed(f"emulator console {self.address}: {line}")
            lines.append(line)
            if line.startswith("OK"):
                return "\n".join(lines)

    def command(self, text: str) -> str:
        """Send one command; its reply (ending with the OK line), or ``EmulatorFailed`` on KO."""
        try:
            self._sock.sendall(text.encode() + b"\n")
        except OSError as e:
            raise EmulatorFailed(f"emulator console {self.address} broke: {e}") from e
        try:
            return self._reply()
        except EmulatorFailed as e:
            what = text if not text.startswith("auth ") else "auth <token>"
            raise EmulatorFailed(f"{e} (for `{what}`)") from e

    def snapshot_load(self, name: str) -> None:
        self.command(f"avd snapshot load {name}")

    def snapshot_save(self, name: str) -> None:
        self.command(f"avd snapshot save {name}")

    def kill(self) -> None:
        """Ask the emulator to exit (the console closes at once, so no answer is awaited beyond OK)."""
        try:
            self._sock.sendall(b"kill\n")
            self._reply()
        except EmulatorFailed:
            pass  # it may close before its OK arrives
        except OSError:
            pass

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> EmulatorConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
