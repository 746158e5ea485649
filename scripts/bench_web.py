"""Web page step latency and episode throughput, beside a PhoneSim step in the same run.

A step is what an environment step costs a device: execute a Tap, take a fresh screenshot, read the
elements. The web step taps the first element of the last element list on MiniWoB++'s click-button page
(a button ends the episode and brings up MiniWoB's START cover; tapping the cover starts the next one),
so every step changes the page. The PhoneSim step toggles a switch in Settings (``SimDevice(seed=0)``).
An episode is a task setup (load the page, start a seeded episode) and 3 steps; throughput is measured
on one page, then on ``--pages`` pages of one browser driven from as many threads at once.

Needs Chromium (``chromium`` on PATH or ``$GUI_GRPO_CHROMIUM``) and the ``miniwob`` package. Prints
figures, checks nothing; run it on an idle machine (it takes about a minute):

    .venv/bin/python scripts/bench_web.py [--steps 200] [--pages 8] [--episodes 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from emulators.actions import Tap
from emulators.device import GuiDevice
from emulators.elements import Element
from emulators.errors import DeviceError
from emulators.phonesim import SimDevice
from emulators.web import WebDevice, open_web_devices

START_EPISODE = "core.EPISODE_MAX_TIME = 1e9; Math.seedrandom(1); core.startEpisodeReal();"
STEPS_PER_EPISODE = 3


def click_button_url() -> str:
    """The file:// URL of MiniWoB++'s click-button page in the installed ``miniwob`` package."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("bench_web: the miniwob package is not installed (pip install miniwob)")
    page = Path(spec.submodule_search_locations[0]) / "html" / "miniwob" / "click-button.html"
    if not page.is_file():
        raise SystemExit(f"bench_web: {page} does not exist; reinstall the miniwob package")
    return page.as_uri()


def timed_step(device: GuiDevice, elements: list[Element]) -> tuple[list[Element], tuple[float, ...]]:
    """Tap the first element (the screen's centre if there is none), observe: the new elements and
    the milliseconds of the tap, the screenshot and the element list."""
    w, h = device.screen_size
    x, y = elements[0].center if elements else (w // 2, h // 2)
    t0 = time.perf_counter()
    device.execute(Tap(x, y))
    t1 = time.perf_counter()
    device.screenshot()
    t2 = time.perf_counter()
    found = device.elements()
    t3 = time.perf_counter()
    return found, ((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)


def step(device: GuiDevice, elements: list[Element]) -> list[Element]:
    return timed_step(device, elements)[0]


def setup(page: WebDevice, url: str) -> list[Element]:
    page.goto(url)
    page.evaluate(START_EPISODE)
    return page.elements()


def episode(page: WebDevice, url: str) -> None:
    elements = setup(page, url)
    for _ in range(STEPS_PER_EPISODE):
        elements = step(page, elements)


def step_times_ms(device: GuiDevice, steps: int, targets: Callable[[], list[Element]] | None = None,
                  ) -> list[tuple[float, ...]]:
    """(tap, screenshot, elements) ms of ``steps`` steps; each taps the first of ``targets()`` (default:
    of the elements the step before found)."""
    elements = device.elements()
    times = []
    for _ in range(steps):
        elements, parts = timed_step(device, targets() if targets else elements)
        times.append(parts)
    return times


def phonesim_toggle_device() -> tuple[SimDevice, Callable[[], list[Element]]]:
    """PhoneSim on Settings > Network & internet, and a function that lists just its first switch."""
    device = SimDevice(seed=0)
    device.open_app("settings")
    row = next(e for e in device.elements() if e.label == "Network & internet")
    device.tap(*row.center)
    return device, lambda: [next(e for e in device.elements() if e.checkable)]


def episodes_per_s(pages: list[WebDevice], url: str, per_page: int) -> float:
    """Episodes per second with every page of ``pages`` driven by a thread of its own at once."""

    def drive(page: WebDevice) -> None:
        for _ in range(per_page):
            episode(page, url)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(pages)) as pool:
        for done in [pool.submit(drive, page) for page in pages]:
            done.result()
    return len(pages) * per_page / (time.perf_counter() - t0)


def summary(name: str, parts: list[tuple[float, ...]]) -> str:
    """A line: median and p95 of the step, then the medians of its tap, screenshot and elements."""
    times = [sum(p) for p in parts]
    p95 = statistics.quantiles(times, n=20)[18] if len(times) > 1 else times[0]
    tap, shot, found = (statistics.median(column) for column in zip(*parts, strict=True))
    return (f"{name:<40} {statistics.median(times):>9.2f} {p95:>8.2f}   "
            f"{tap:>5.1f} {shot:>6.1f} {found:>8.1f}")


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive, default=200, help="timed steps per device (200)")
    parser.add_argument("--pages", type=positive, default=8, help="pages driven at once (8)")
    parser.add_argument("--episodes", type=positive, default=10,
                        help="episodes per page in the throughput runs (10)")
    args = parser.parse_args()
    url = click_button_url()
    print(f"machine: {os.cpu_count()} CPUs; step = Tap + screenshot + elements")
    try:
        pages = open_web_devices(args.pages)
    except DeviceError as e:
        raise SystemExit(f"bench_web: {e}") from None
    try:
        setup(pages[0], url)
        step_times_ms(pages[0], 10)  # warm-up
        web = step_times_ms(pages[0], args.steps)
        sim, switch = phonesim_toggle_device()
        phone = step_times_ms(sim, args.steps, switch)
        print(f"{args.steps} steps each  {'':<27} {'median ms':>9} {'p95 ms':>8}   "
              f"{'tap':>5} {'screen':>6} {'elements':>8}  (medians)")
        print(summary("web: MiniWoB click-button {}x{}".format(*pages[0].screen_size), web))
        print(summary("phonesim: Settings switch {}x{}".format(*sim.screen_size), phone))
        one = episodes_per_s(pages[:1], url, args.episodes)
        many = episodes_per_s(pages, url, args.episodes)
        print(f"episodes (setup + {STEPS_PER_EPISODE} steps): {one:.1f}/s on 1 page; "
              f"{many:.1f}/s on {args.pages} pages from {args.pages} threads ({many / one:.1f}x)")
    finally:
        for page in pages:
            page.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
