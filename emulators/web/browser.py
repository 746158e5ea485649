"""One headless Chromium process and its pages, restarted when it dies.

``Browser`` starts Debian's ``chromium`` (or ``$GUI_GRPO_CHROMIUM``) headless with a throw-away profile and
a DevTools port of its own, and talks to it over one ``CdpConnection``. Its pages are numbered 0..N-1;
each is a tab attached in flat mode with its own CDP session. Nothing is downloaded: the browser is the
system's. If the process dies, the next call on any page restarts it with the same N pages (blank):
the call that found it dead raises ``DeviceUnreachable``, so the episode it belonged to is lost, and the
next task setup reloads its page.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from emulators.errors import DeviceError, DeviceUnreachable
from emulators.web.cdp import CdpConnection
from emulators.web.elements import LISTENERS_JS

BROWSER_ENV = "GUI_GRPO_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")
START_TIMEOUT_S = 30.0
FLAGS = (
    "--headless=new", "--disable-gpu", "--hide-scrollbars", "--mute-audio", "--no-first-run",
    "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
    "--disable-sync", "--disable-component-update", "--disable-features=Translate,MediaRouter",
    "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows", "--force-color-profile=srgb", "--font-render-hinting=none",
    "--allow-file-access-from-files", "--password-store=basic", "--use-mock-keychain",
    # A screenshot waits for the next frame; unthrottled, that is ~9 ms instead of up to a 60 Hz tick
    # (scripts/bench_web.py: a step 48 -> 19 ms median). Frames are still only drawn when a page changes.
    "--disable-frame-rate-limit",
)
_LIVE: weakref.WeakSet[Browser] = weakref.WeakSet()
PR_SET_PDEATHSIG = 1


def _stop_all() -> None:
    """At interpreter exit: no browser outlives the process that started it."""
    for browser in list(_LIVE):
        browser.close()


atexit.register(_stop_all)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """The browser gets SIGKILL when the thread that started it ends (a killed Python process)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class BrowserMissing(DeviceError):
    """No Chromium binary on this machine."""


def find_chromium() -> str:
    """The browser binary: ``$GUI_GRPO_CHROMIUM``, else the first of ``chromium``, … on PATH."""
    configured = os.environ.get(BROWSER_ENV)
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            raise BrowserMissing(f"{BROWSER_ENV}={configured} is not an executable file")
        return configured
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserMissing(
        "web devices need Chromium: sudo apt-get install -y chromium (or set GUI_GRPO_CHROMIUM to a "
        "Chrome/Chromium binary)"
    )


class Browser:
    """A headless Chromium with ``pages`` tabs of ``size`` CSS pixels (device scale 1)."""

    def __init__(self, pages: int, size: tuple[int, int], *, timeout_s: float = 30.0) -> None:
        if pages < 1:
            raise ValueError("a browser needs at least one page")
        self.size = size
        self.timeout_s = timeout_s
        self.restarts = 0
        self._count = pages
        self._open_pages = set(range(pages))
        self._blanked: set[int] = set()  # pages a restart emptied that have not been told yet
        self._lock = threading.RLock()
        self._process: subprocess.Popen[bytes] | None = None
        self._profile: str | None = None
        self._cdp: CdpConnection | None = None
        self.sessions: list[str] = []
        self._start()

    # -- lifecycle -----------------------------------------------------------------------------------

    def _start(self) -> None:
        binary = find_chromium()
        self._profile = tempfile.mkdtemp(prefix="gui-grpo-chromium-")
        args = [binary, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
                f"--window-size={self.size[0]},{self.size[1]}", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        # Started from the main thread, the browser dies with the process even when it is killed (the
        # parent-death signal follows the starting thread, so a restart from a device thread relies on
        # the exit handler alone).
        main = threading.current_thread() is threading.main_thread()
        self._process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent if main else None,
        )
        _LIVE.add(self)
        try:
            self._cdp = CdpConnection(self._ws_url(), timeout_s=self.timeout_s)
            self.sessions = []
            for _ in range(self._count):
                # a window per page: a background tab of a headless browser renders no frames
                created = self._cdp.send("Target.createTarget", {"url": "about:blank", "newWindow": True})
                session = self._cdp.send("Target.attachToTarget",
                                         {"targetId": created["targetId"], "flatten": True})
                self.sessions.append(session["sessionId"])
                self._prepare(session["sessionId"])
        except BaseException:
            self._stop()
            raise

    def _ws_url(self) -> str:
        """The browser's DevTools WebSocket URL, from the ``DevToolsActivePort`` file it writes."""
        assert self._profile is not None and self._process is not None
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise DeviceUnreachable(f"chromium exited at start with status {self._process.returncode}")
            try:
                port, path = port_file.read_text().split("\n")[:2]
                if port and path:
                    return f"ws://127.0.0.1:{int(port)}{path}"
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.02)
        raise DeviceUnreachable(f"chromium did not open its DevTools port within {START_TIMEOUT_S:g} s")

    def _prepare(self, session: str) -> None:
        width, height = self.size
        self._cdp_send("Emulation.setDeviceMetricsOverride",
                       {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        self._cdp_send("Page.enable", {}, session)
        self._cdp_send("Page.addScriptToEvaluateOnNewDocument", {"source": LISTENERS_JS}, session)
        self._cdp_send("Runtime.enable", {}, session)

    def _stop(self) -> None:
        if self._cdp is not None:
            self._cdp.close()
            self._cdp = None
        if self._process is not None:
            try:  # the whole process group: renderers and helpers too (start_new_session made it)
                os.killpg(self._process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def alive(self) -> bool:
        return (self._process is not None and self._process.poll() is None
                and self._cdp is not None and self._cdp.alive)

    def restart(self) -> None:
        """A fresh process with the same number of blank pages; each page's next call (but a navigation)
        raises ``DeviceUnreachable`` once, so no episode goes on acting on a blank page."""
        with self._lock:
            self._stop()
            self.restarts += 1
            self._start()
            self._blanked = set(self._open_pages)

    def close(self) -> None:
        with self._lock:
            self._open_pages.clear()
            self._stop()

    def release(self, page: int) -> None:
        """Page ``page`` is no longer used; the last release stops the browser."""
        with self._lock:
            self._open_pages.discard(page)
            if not self._open_pages:
                self._stop()

    # -- commands ------------------------------------------------------------------------------------

    def _cdp_send(self, method: str, params: dict[str, Any], session: str) -> dict[str, Any]:
        assert self._cdp is not None
        return self._cdp.send(method, params, session=session)

    def send(
        self, page: int, method: str, params: dict[str, Any] | None = None, *, navigation: bool = False
    ) -> dict[str, Any]:
        """One CDP command to page ``page``. A dead browser is restarted and the call raises
        ``DeviceUnreachable`` (what the page showed is gone); so does the next call of each other page,
        unless it is a ``navigation`` (a task setup loading its page starts afresh)."""
        with self._lock:
            if not self.alive:
                self._restart_after_death(page)
            if page in self._blanked:
                self._blanked.discard(page)
                if not navigation:
                    raise DeviceUnreachable(
                        f"the browser was restarted (restart {self.restarts}); this page's episode is lost")
            cdp, session = self._cdp, self.sessions[page]
        assert cdp is not None
        try:
            return cdp.send(method, params or {}, session=session)
        except DeviceUnreachable:
            with self._lock:
                if not self.alive:
                    self._restart_after_death(page)
            raise

    def _restart_after_death(self, page: int) -> None:
        why = "the process exited" if self._process is None or self._process.poll() is not None else (
            "its DevTools connection closed")
        self.restart()
        self._blanked.discard(page)  # told now, by the error below
        raise DeviceUnreachable(
            f"the browser died ({why}); restarted it with blank pages, this episode is lost")
