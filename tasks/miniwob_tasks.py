"""MiniWoB++ tasks as templates: ``miniwob.<task>`` for the pages of the ``miniwob`` package (Farama, 1.1.0).

Each template is one of MiniWoB++'s HTML tasks, loaded from the installed package
(``<miniwob>/html/miniwob/<task>.html``; nothing is copied into this repository) into a web page
(``emulators.web.WebDevice``: ``--devices web:N``). An instance is the page and a ``page_seed`` drawn
from the instance seed.

- Setup reloads the page, seeds MiniWoB's random generator (``Math.seedrandom(page_seed)``), sets the
  data mode ``train``, starts the episode and waits for ``WOB_TASK_READY``; it returns the utterance,
  which is the instance's instruction (``page_instruction``). The same seed gives the same page.
- Setup also hides MiniWoB's own debugging side panel (last reward, countdown, click canvas): it sits to
  the right of the 160x210 task area, and in a 160-pixel-wide viewport focusing a widget would scroll
  it into view over the task.
- No wall-clock limit: MiniWoB ends an episode after 10 s (some tasks 15-30 s); here the countdown is
  set beyond any episode and the episode is bounded by the template's ``max_steps`` instead. A model's
  latency (seconds per step on a CPU) is not the agent's skill. For the same reason the score is
  MiniWoB's *raw* reward, without its time penalty.
- The page ends the episode itself (``ends_itself``; ``finished`` reads ``WOB_DONE_GLOBAL``). ``check``
  is 0 while the episode is not done, else ``max(0, raw reward)``: MiniWoB's raw reward is in [-1, 1]
  (success 1 -> 1, failure -1 -> 0, partial credit such as 0.5 kept).
- The oracle is a scripted solver (``tasks.miniwob_solvers``) that reads the page and sends only taps,
  keys and text; templates without one raise ``TaskError`` from ``oracle``.

``MINIWOB_EASY`` (suite ``miniwob-easy``) are single-screen click and type tasks with solvers;
``MINIWOB_PAGES`` (suite ``miniwob``) is every page of ``html/miniwob`` that runs headless with the
device's actions (a few more of them have solvers: ``solved``); ``LEFT_OUT`` says why each other page
is not a template. The ``html/flight`` pages
(multi-page flight-booking sites, no core.js episode) are not templates either.
"""

from __future__ import annotations

import importlib.util
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from emulators.actions import Terminate
from emulators.errors import DeviceError
from emulators.web import WebDevice
from tasks.base import Difficulty, Episode, Param, Task, TaskError, register
from tasks.miniwob_solvers import SOLVERS, Action

EPISODE_TIME_MS = 2_000_000_000  # "no limit": a setTimeout above 2**31 - 1 ms would fire at once
READY_TIMEOUT_S = 10.0
POLL_S = 0.01
WEB_ONLY = "miniwob tasks run on web pages: use --devices web:N"

# The page's side panel (``#reward-display``, ``#click-canvas``) out of the layout; see the docstring.
HIDE_SIDE_PANEL = (
    "(() => { const s = document.createElement('style');"
    " s.textContent = '#reward-display, #click-canvas { display: none !important; }';"
    " document.head.appendChild(s); })()"
)
LOADED = "typeof core !== 'undefined' && core.cover_div !== null"  # window.onload has run
# Some pages (email-inbox-*-nl*) return {utterance, fields} instead of the string.
UTTERANCE = "(() => { const u = core.getUtterance(); return typeof u === 'string' ? u : u.utterance; })()"
DONE = ("typeof WOB_DONE_GLOBAL === 'undefined' ? null"
        " : [WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL, WOB_REWARD_REASON]")

MINIWOB_EASY: tuple[str, ...] = (
    "click-test", "click-test-2", "click-button", "click-button-sequence", "click-link", "click-dialog",
    "click-dialog-2", "click-tab", "click-checkboxes", "click-option", "click-widget",
    "click-collapsible-nodelay", "focus-text", "focus-text-2", "enter-text", "enter-text-2",
    "enter-password", "login-user", "enter-date", "choose-list",
)

# Pages that are not templates, and why.
LEFT_OUT: dict[str, str] = {
    "button-delay": "the reward depends on waiting 1-3 s of wall-clock time between two clicks",
    "stock-market": "the price changes every 100 ms: the reward depends on when the tap lands",
    "chase-circle": "the target moves on a timer; the reward is the time the pointer stays on it",
    "moving-items": "the items move on timers",
    "simon-says": "a sequence flashes on timers and must be repeated",
    "hover-shape": "the shape to hover moves every second and no action ends the episode",
    "hot-cold": "its only feedback comes from hovering the pointer; the device has no hover",
    "copy-paste": "needs Ctrl+C / Ctrl+V; the device's keys have no modifiers",
    "copy-paste-2": "needs Ctrl+C / Ctrl+V; the device's keys have no modifiers",
    "click-scroll-list": "half its instances need Ctrl-click to select several options (no modifiers)",
    "book-flight": "animated (jQuery UI); book-flight-nodelay is the same task without the animation",
    "choose-date": "animated (jQuery UI); choose-date-nodelay is the same task without the animation",
    "click-collapsible": "animated; click-collapsible-nodelay is the same task without the animation",
    "click-collapsible-2": "animated; click-collapsible-2-nodelay is the same task without the animation",
    "click-pie": "animated; click-pie-nodelay is the same task without the animation",
    "use-autocomplete": "delayed suggestions; use-autocomplete-nodelay is the same task without the delay",
}

MINIWOB_PAGES: tuple[str, ...] = (
    "ascending-numbers", "bisect-angle", "book-flight-nodelay", "buy-ticket", "choose-date-easy",
    "choose-date-medium", "choose-date-nodelay", "choose-list", "circle-center", "click-button",
    "click-button-sequence", "click-checkboxes", "click-checkboxes-large", "click-checkboxes-soft",
    "click-checkboxes-transfer", "click-collapsible-2-nodelay", "click-collapsible-nodelay", "click-color",
    "click-dialog", "click-dialog-2", "click-link", "click-menu", "click-menu-2", "click-option",
    "click-pie-nodelay", "click-shades", "click-shape", "click-tab", "click-tab-2", "click-tab-2-easy",
    "click-tab-2-hard", "click-tab-2-medium", "click-test", "click-test-2", "click-test-transfer",
    "click-widget", "count-shape", "count-sides", "daily-calendar", "drag-box", "drag-circle", "drag-cube",
    "drag-items", "drag-items-grid", "drag-shapes", "drag-shapes-2", "drag-single-shape",
    "drag-sort-numbers", "draw-circle", "draw-line", "email-inbox", "email-inbox-delete",
    "email-inbox-forward", "email-inbox-forward-nl", "email-inbox-forward-nl-turk", "email-inbox-important",
    "email-inbox-nl-turk", "email-inbox-noscroll", "email-inbox-reply", "email-inbox-star-reply",
    "enter-date", "enter-password", "enter-text", "enter-text-2", "enter-text-dynamic", "enter-time",
    "find-greatest", "find-midpoint", "find-word", "focus-text", "focus-text-2", "form-sequence",
    "form-sequence-2", "form-sequence-3", "generate-number", "grid-coordinate", "guess-number",
    "highlight-text", "highlight-text-2", "identify-shape", "login-user", "login-user-popup",
    "multi-layouts", "multi-orderings", "navigate-tree", "number-checkboxes", "odd-or-even", "order-food",
    "phone-book", "read-table", "read-table-2", "resize-textarea", "right-angle", "scroll-text",
    "scroll-text-2", "search-engine", "sign-agreement", "simple-algebra", "simple-arithmetic",
    "social-media", "social-media-all", "social-media-some", "terminal", "text-editor", "text-transform",
    "tic-tac-toe", "unicode-test", "use-colorwheel", "use-colorwheel-2", "use-slider", "use-slider-2",
    "use-autocomplete-nodelay", "use-spinner", "visual-addition",
)

# Step budgets: an easy page needs its solver's actions and a few to spare; the rest get DEFAULT_STEPS.
MAX_STEPS: dict[str, int] = {
    "click-test": 4, "click-test-2": 4, "click-button": 4, "click-link": 4, "click-dialog": 4,
    "click-dialog-2": 4, "click-tab": 4, "click-widget": 4, "focus-text": 4, "focus-text-2": 4,
    "click-button-sequence": 5, "click-option": 5, "click-collapsible-nodelay": 5, "enter-text": 6,
    "enter-text-2": 6, "enter-date": 6, "choose-list": 7, "enter-password": 8, "login-user": 8,
    "click-checkboxes": 10,
}
DEFAULT_STEPS = 15


def pages_dir() -> Path:
    """``html/miniwob`` of the installed ``miniwob`` package; ``TaskError`` when it is not installed."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise TaskError("miniwob tasks need the miniwob package: pip install miniwob==1.1.0")
    return Path(spec.submodule_search_locations[0]) / "html" / "miniwob"


def page_url(page: str) -> str:
    path = pages_dir() / f"{page}.html"
    if not path.is_file():
        raise TaskError(f"the miniwob package has no page {path}: pip install miniwob==1.1.0")
    return path.as_uri()


def require_web(device: Any) -> WebDevice:
    if not isinstance(device, WebDevice):
        raise TaskError(WEB_ONLY)
    return device


def wait_for(device: WebDevice, expression: str, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not device.evaluate(expression):
        if time.monotonic() > deadline:
            raise DeviceError(f"{device.name}: {what} within {READY_TIMEOUT_S:g} s")
        time.sleep(POLL_S)


class MiniWobTask(Task):
    """One MiniWoB++ page; subclasses (made by ``_template``) set ``name``, ``page``, ``solver``."""

    app: ClassVar[str] = "MiniWoB"
    source: ClassVar[str] = "miniwob"
    device_kind: ClassVar[Literal["android", "web"]] = "web"
    page_instruction: ClassVar[bool] = True
    ends_itself: ClassVar[bool] = True
    params_schema: ClassVar[dict[str, Param]] = {"page_seed": Param(int, min=0, max=2**31 - 1)}
    page: ClassVar[str]
    solved: ClassVar[bool] = False
    """Whether the page has a scripted solver (``oracle`` raises ``TaskError`` otherwise)."""

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"page_seed": rng.randrange(2**31)}

    def setup(self, device: Any) -> dict[str, Any]:
        """Reload the page and start the seeded episode without a time limit; the utterance is the
        instruction."""
        web = require_web(device)
        web.goto(page_url(self.page))
        wait_for(web, LOADED, f"{self.page} did not load MiniWoB's core")
        seed = self.params["page_seed"]
        web.evaluate(f"{HIDE_SIDE_PANEL}; Math.seedrandom({seed}); core.setDataMode('train');"
                     f" core.EPISODE_MAX_TIME = {EPISODE_TIME_MS}; core.startEpisodeReal(); true")
        wait_for(web, "WOB_TASK_READY === true", f"{self.page} was not ready")
        web.evaluate("window.scrollTo(0, 0)")
        utterance = str(web.evaluate(UTTERANCE))
        self.page_text = utterance
        return {"utterance": utterance, "page_seed": seed}

    def _done(self, device: Any) -> tuple[bool, float]:
        state = require_web(device).evaluate(DONE)
        if state is None:  # the page is no longer a MiniWoB task (the agent went back)
            return False, 0.0
        return bool(state[0]), float(state[1] or 0.0)

    def finished(self, device: Any) -> bool:
        """Whether the page has ended the episode (``WOB_DONE_GLOBAL``)."""
        return self._done(device)[0]

    def check(self, device: Any, episode: Episode) -> float:
        """0 until the page ends the episode, then MiniWoB's raw reward clipped to [0, 1]."""
        self.require_setup(episode)
        done, raw = self._done(device)
        return min(1.0, max(0.0, raw)) if done else 0.0

    def oracle(self, device: Any) -> Iterator[Action | Terminate]:
        """The page's scripted solver (``tasks.miniwob_solvers``), then ``Terminate``; ``TaskError`` for a
        page without one."""
        web = require_web(device)
        solver = SOLVERS.get(self.page)
        if solver is None:
            raise TaskError(f"{self.name} has no scripted solver (the miniwob-easy suite's templates do)")
        yield from solver(web, str(web.evaluate(UTTERANCE)))
        yield Terminate("success")


def _class_name(page: str) -> str:
    return "MiniWob_" + page.replace("-", "_")


def _template(page: str) -> type[MiniWobTask]:
    difficulty: Difficulty = "easy" if page in MINIWOB_EASY else "medium"
    attrs = {
        "name": f"miniwob.{page}", "page": page, "difficulty": difficulty, "__module__": __name__,
        "max_steps": MAX_STEPS.get(page, DEFAULT_STEPS), "__doc__": f"MiniWoB++'s {page} page.",
        "solved": page in SOLVERS,
    }
    return register(type(_class_name(page), (MiniWobTask,), attrs))  # type: ignore[return-value]


TEMPLATES: dict[str, type[MiniWobTask]] = {page: _template(page) for page in MINIWOB_PAGES}
