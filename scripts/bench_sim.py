"""PhoneSim step latency and fork throughput.

A step is an action that changes the screen (scroll a list, type into a field, toggle a switch) followed
by a fresh screenshot as a PIL image, all through the Device interface. Run on an idle machine:

    python scripts/bench_sim.py [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from emulators.elements import Element  # noqa: E402
from emulators.phonesim import SimDevice  # noqa: E402


def find(device: SimDevice, label: str) -> Element:
    for e in device.elements():
        if e.label == label or e.text == label:
            return e
    raise LookupError(f"no element {label!r} on screen")


def scroll_step(device: SimDevice, i: int) -> None:
    w, h = device.screen_size
    y1, y2 = (int(h * 0.7), int(h * 0.4)) if i % 2 == 0 else (int(h * 0.4), int(h * 0.7))
    device.swipe(w // 2, y1, w // 2, y2, 300)


def scenario(resolution: str, kind: str) -> tuple[SimDevice, callable]:
    device = SimDevice(seed=1, resolution=resolution)
    if kind == "scroll":
        for i in range(40):
            device.state.add_contact(f"Person {i:02d}", [f"+1 555 01{i:02d}"])
        device.open_app("contacts")
        return device, lambda i: scroll_step(device, i)
    if kind == "type":
        device.open_app("contacts")
        search = next(e for e in device.elements() if e.editable)
        device.tap(*search.center)
        return device, lambda i: device.type_text("a")
    device.open_app("settings")
    device.tap(*find(device, "Network & internet").center)
    switch = next(e for e in device.elements() if e.checkable)
    return device, lambda i: device.tap(*switch.center)


def time_steps(resolution: str, kind: str, steps: int) -> list[float]:
    device, act = scenario(resolution, kind)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        act(i)
        device.screenshot()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    print(f"{'resolution':<10} {'step':<7} {'median ms':>9} {'p95 ms':>7}")
    for resolution in ("default", "small"):
        for kind in ("scroll", "type", "toggle"):
            t = sorted(time_steps(resolution, kind, args.steps))
            p95 = t[int(0.95 * (len(t) - 1))]
            print(f"{resolution:<10} {kind:<7} {statistics.median(t):>9.2f} {p95:>7.2f}")
    for resolution in ("default", "small"):
        device, _ = scenario(resolution, "scroll")
        n = 200
        t0 = time.perf_counter()
        copies = device.fork(n)
        dt = time.perf_counter() - t0
        assert len(copies) == n
        print(f"fork {resolution}: {n / dt:,.0f} copies/s ({dt / n * 1000:.2f} ms per copy)")


if __name__ == "__main__":
    main()
