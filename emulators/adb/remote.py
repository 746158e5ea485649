"""What every ADB-reached device shares: exit statuses from a sentinel, and screenshots from ``exec:``.

The legacy ``shell:`` service carries no exit status, so ``shell`` appends ``; echo <nonce>$?`` and strips
the sentinel line from the output. Subclasses provide ``_service(destination, timeout) -> bytes``.
"""

from __future__ import annotations

import secrets
from abc import abstractmethod
from typing import Literal

from PIL import Image

from emulators.adb.screencap import decode_png, decode_raw
from emulators.device import DEFAULT_TIMEOUT_S, AndroidDevice, ShellResult
from emulators.errors import DeviceError

ScreenshotFormat = Literal["png", "raw"]


class MissingExitStatus(DeviceError):
    """A shell command's output ended before its exit-status sentinel (it exited the shell itself)."""


def split_sentinel(output: str, nonce: str) -> tuple[str, int | None]:
    """(output without the sentinel, exit status), or (output, None) when the sentinel is absent."""
    at = output.rfind(nonce)
    if at < 0:
        return output, None
    status = output[at + len(nonce):].strip()
    if not (status.isascii() and status.isdigit()) or len(status) > 3:  # an exit status is 0-255
        return output, None
    return output[:at], int(status)


class RemoteDevice(AndroidDevice):
    """A Device reached through ADB services; subclasses supply the transport."""

    def __init__(self, name: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                 screenshot_format: ScreenshotFormat = "png") -> None:
        if screenshot_format not in ("png", "raw"):
            raise ValueError(f"screenshot_format must be 'png' or 'raw', got {screenshot_format!r}")
        self.name = name
        self.timeout_s = timeout_s
        self.screenshot_format: ScreenshotFormat = screenshot_format

    @abstractmethod
    def _service(self, destination: str, timeout: float, retry: bool) -> bytes:
        """All bytes the service ``destination`` writes before it closes.

        ``retry`` says whether the request may be sent again after a broken connection (it has no side
        effects); otherwise only failures before the request reached the device are retried.
        """

    def _timeout(self, timeout: float | None) -> float:
        return self.timeout_s if timeout is None else timeout

    def shell(self, cmd: str, timeout: float | None = None) -> ShellResult:
        """Run ``cmd``; ``timeout`` None means this device's ``timeout_s`` (there is always a timeout)."""
        nonce = f"__gui_grpo_{secrets.token_hex(6)}__"
        raw = self._service(f"shell:{cmd}; echo {nonce}$?", self._timeout(timeout), retry=False)
        text = raw.decode("utf-8", errors="replace")
        output, status = split_sentinel(text, nonce)
        if status is None:
            raise MissingExitStatus(f"{self.name}: `{cmd}` ended the shell before its exit status could be "
                                    f"read; avoid `exit` and trailing comments in commands\n{text[-500:]}")
        return ShellResult(output, status)

    def exec_out(self, cmd: str, timeout: float | None = None, retry: bool = False) -> bytes:
        """Binary-clean stdout of ``cmd`` through the ``exec:`` service (no exit status)."""
        return self._service(f"exec:{cmd}", self._timeout(timeout), retry=retry)

    def screenshot(self) -> Image.Image:
        if self.screenshot_format == "raw":
            return decode_raw(self.exec_out("screencap", retry=True), self.name)
        return decode_png(self.exec_out("screencap -p", retry=True), self.name)

    def screenshot_raw(self) -> Image.Image:
        """The screen through plain ``screencap`` (much cheaper on a real device than PNG)."""
        return decode_raw(self.exec_out("screencap", retry=True), self.name)

    def screenshot_png(self) -> Image.Image:
        return decode_png(self.exec_out("screencap -p", retry=True), self.name)
