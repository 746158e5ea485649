"""Web pages as GUI devices: headless Chromium driven over the DevTools protocol.

``open_web_devices(n, size)`` starts one browser with ``n`` pages and returns a ``WebDevice`` per page;
closing every page stops the browser. A web page is a ``GuiDevice`` (screenshot, size, elements, actions)
without a shell and without ``fork``: a group replays the task's seeded setup on G pages.
"""

from emulators.web.browser import Browser, BrowserMissing, find_chromium
from emulators.web.device import WebDevice
from emulators.web.pool import DEFAULT_SIZE, open_web_devices

__all__ = ["DEFAULT_SIZE", "Browser", "BrowserMissing", "WebDevice", "find_chromium",
           "open_web_devices"]
