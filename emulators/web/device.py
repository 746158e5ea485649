"""``WebDevice``: one page of a headless Chromium behind the ``GuiDevice`` contract.

Device pixels are CSS pixels of the page's viewport (device scale 1), so a screenshot of ``screen_size``
and every action share one coordinate space. Actions are real input events sent through the DevTools
protocol: a tap is a left-button press and release at the point, a long press holds it, a swipe drags
with the button held and then scrolls by the opposite of the drag at its end (what a finger does on a
touch screen: drags what is draggable, scrolls what is scrollable), typing sends one key event per
character (the text is data: it never reaches a script), keys are the DOM keys of Android's key names.
``evaluate`` runs *our* JavaScript (task setup, checkers, oracles), never model output.
"""

from __future__ import annotations

import base64
import io
import time
import unicodedata
from typing import Any

from PIL import Image

from emulators.actions import KEYCODE_NAMES, keycode_number
from emulators.device import GuiDevice
from emulators.elements import Element
from emulators.errors import DeviceError, InvalidAction, UntypeableText
from emulators.web.browser import Browser
from emulators.web.elements import ELEMENTS_JS, elements_from_page

# Android key names → (DOM key, DOM code, Windows virtual key code) of the key a page receives.
DOM_KEYS: dict[str, tuple[str, str, int]] = {
    "ENTER": ("Enter", "Enter", 13), "TAB": ("Tab", "Tab", 9), "SPACE": (" ", "Space", 32),
    "DEL": ("Backspace", "Backspace", 8), "FORWARD_DEL": ("Delete", "Delete", 46),
    "ESCAPE": ("Escape", "Escape", 27), "MOVE_HOME": ("Home", "Home", 36), "MOVE_END": ("End", "End", 35),
    "DPAD_UP": ("ArrowUp", "ArrowUp", 38), "DPAD_DOWN": ("ArrowDown", "ArrowDown", 40),
    "DPAD_LEFT": ("ArrowLeft", "ArrowLeft", 37), "DPAD_RIGHT": ("ArrowRight", "ArrowRight", 39),
    "DPAD_CENTER": ("Enter", "Enter", 13),
}
SWIPE_MOVES = 8
NEXT_FRAMES = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
LOADED = "window.__gui_grpo_old === undefined && document.readyState === 'complete'"  # the new document
LOAD_TIMEOUT_S = 20.0


class WebDevice(GuiDevice):
    """Page ``page`` of ``browser``; closing the last page of a browser stops it."""

    settle_s = 0.0  # a screenshot waits for the next rendered frame
    restarts_itself = True  # a dead browser is restarted by the next call

    def __init__(self, browser: Browser, page: int, *, name: str | None = None) -> None:
        self.browser = browser
        self.page = page
        self.name = name or f"web:{page}"
        self._closed = False

    # -- what the page shows -------------------------------------------------------------------------

    @property
    def screen_size(self) -> tuple[int, int]:
        return self.browser.size

    def screenshot(self) -> Image.Image:
        width, height = self.browser.size
        shot = self._send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
        image = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
        if image.size != (width, height):
            raise DeviceError(f"{self.name}: the screenshot is {image.size}, not the page's {width}x{height}")
        return image

    def elements(self) -> list[Element]:
        return elements_from_page(self.evaluate(ELEMENTS_JS))

    # -- actions -------------------------------------------------------------------------------------

    def tap(self, x: int, y: int) -> None:
        self._mouse("mousePressed", x, y)
        self._mouse("mouseReleased", x, y)

    def long_press(self, x: int, y: int, duration_ms: int = 1000) -> None:
        self._mouse("mousePressed", x, y)
        time.sleep(duration_ms / 1000)
        self._mouse("mouseReleased", x, y)

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self._mouse("mouseMoved", x1, y1, button="none")
        self._mouse("mousePressed", x1, y1)
        pause = duration_ms / 1000 / SWIPE_MOVES
        for i in range(1, SWIPE_MOVES + 1):
            x, y = x1 + (x2 - x1) * i / SWIPE_MOVES, y1 + (y2 - y1) * i / SWIPE_MOVES
            self._send("Input.dispatchMouseEvent",
                       {"type": "mouseMoved", "x": x, "y": y, "button": "left", "buttons": 1})
            time.sleep(pause)
        self._mouse("mouseReleased", x2, y2)
        self._send("Input.dispatchMouseEvent", {"type": "mouseWheel", "x": x2, "y": y2,
                                                "deltaX": x1 - x2, "deltaY": y1 - y2})
        self.evaluate(NEXT_FRAMES)  # the scroll is applied by the compositor: wait until the page has it

    def type_text(self, text: str) -> None:
        """One key press per character into the focused element; a newline presses Enter. Other control
        characters are refused (``UntypeableText``), as on Android: a tab would move the focus away."""
        bad = next((ch for ch in text if ch != "\n" and unicodedata.category(ch) == "Cc"), None)
        if bad is not None:
            raise UntypeableText(f"cannot type the control character {bad!r} (U+{ord(bad):04X})")
        for ch in text:
            if ch == "\n":
                self._key_press(DOM_KEYS["ENTER"])
            else:
                self._send("Input.dispatchKeyEvent", {"type": "keyDown", "text": ch, "unmodifiedText": ch,
                                                       "key": ch})
                self._send("Input.dispatchKeyEvent", {"type": "keyUp", "key": ch})

    def key(self, key: str | int) -> None:
        name = KEYCODE_NAMES[keycode_number(key)]
        if name == "BACK":  # the history's previous entry, if there is one (a navigation, not a key)
            history = self._send("Page.getNavigationHistory", {})
            if history["currentIndex"] > 0:
                entry = history["entries"][history["currentIndex"] - 1]
                self._send("Page.navigateToHistoryEntry", {"entryId": entry["id"]})
            return
        if name not in DOM_KEYS:
            known = ", ".join(sorted(DOM_KEYS))
            raise InvalidAction(f"a web page has no {name} key; keys it has: BACK, {known}")
        self._key_press(DOM_KEYS[name])

    # -- for tasks (setup, checks, oracles): our scripts, never model output ------------------------

    def goto(self, url: str) -> None:
        """Load ``url`` and wait until the document has loaded."""
        self._send("Runtime.evaluate", {"expression": "window.__gui_grpo_old = true"}, navigation=True)
        reply = self._send("Page.navigate", {"url": url}, navigation=True)
        if reply.get("errorText"):
            raise DeviceError(f"{self.name}: cannot load {url}: {reply['errorText']}")
        if "loaderId" not in reply:
            return  # a fragment of the current document: no new document to wait for
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while self.evaluate(LOADED) is not True:
            if time.monotonic() > deadline:
                raise DeviceError(f"{self.name}: {url} did not load within {LOAD_TIMEOUT_S:g} s")
            time.sleep(0.01)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page; a thrown error is a ``DeviceError``."""
        reply = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            message = details.get("exception", {}).get("description") or details.get("text", "")
            first = message.splitlines()[0] if message else str(details)
            raise DeviceError(f"{self.name}: page script failed: {first}")
        return reply.get("result", {}).get("value")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.browser.release(self.page)

    # -- plumbing ------------------------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any], *, navigation: bool = False) -> dict[str, Any]:
        if self._closed:
            raise DeviceError(f"{self.name} is closed")
        return self.browser.send(self.page, method, params, navigation=navigation)

    def _mouse(self, kind: str, x: float, y: float, button: str = "left") -> None:
        self._send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": button,
                                                "clickCount": 1 if button == "left" else 0})

    def _key_press(self, dom: tuple[str, str, int]) -> None:
        key, code, vk = dom
        down: dict[str, Any] = {"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk}
        if key in ("Enter", " "):
            down["text"] = "\r" if key == "Enter" else " "
        self._send("Input.dispatchKeyEvent", down)
        self._send("Input.dispatchKeyEvent", {**down, "type": "keyUp", "text": ""})

