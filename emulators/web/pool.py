"""``open_web_devices``: N pages of one headless browser, as devices."""

from __future__ import annotations

from emulators.web.browser import Browser
from emulators.web.device import WebDevice

DEFAULT_SIZE = (160, 210)
"""The default page size in CSS pixels: MiniWoB++'s task area (its pages draw the task at 160×210)."""


def open_web_devices(
    count: int, size: tuple[int, int] = DEFAULT_SIZE, *, timeout_s: float = 30.0
) -> list[WebDevice]:
    """One browser with ``count`` pages of ``size``; the browser stops when every page is closed."""
    browser = Browser(count, size, timeout_s=timeout_s)
    return [WebDevice(browser, i, name=f"web:{i}") for i in range(count)]
