"""Devices for rollouts: open them from a device spec, and call them concurrently with per-call timeouts.

``open_devices`` turns any spec of the one grammar (``sim:N``, ``adb:…``, ``serial:…``, ``avd:NAME:N``,
``web:N``) into ready ``GuiDevice`` objects. ``DeviceCalls`` runs one call per device on its own thread
and waits at most ``timeout_s`` for each, so one slow or hung device never stalls the others: its call
comes back as a ``DeviceTimeout`` and the caller decides what that means (a rollout marks the episode
lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

from emulators.device import DEFAULT_TIMEOUT_S, GuiDevice
from emulators.errors import DeviceError, DeviceTimeout
from emulators.phonesim import SimDevice
from emulators.specs import DeviceSpec, page_size, parse_device_spec

T = TypeVar("T")
R = TypeVar("R")


class DeviceCallError(Exception):
    """A device call raised something other than a ``DeviceError`` (a bug, not a lost device)."""


def open_devices(
    spec: str | DeviceSpec,
    *,
    sim_seed: int = 0,
    sim_resolution: str | tuple[int, int] = "small",
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[GuiDevice]:
    """Ready devices for ``spec``; ``sim:N`` gives N PhoneSims seeded ``sim_seed``, ``sim_seed + 1``, …

    ``adb:`` and ``serial:`` devices are connected concurrently (``emulators.adb.connect_devices``); if any
    fails they are all closed and the error is raised. ``avd:NAME:N`` boots N emulators of the AVD
    (``emulators.avd.EmulatorPool``, needs the Android SDK); closing all of them stops the pool.
    ``web:N[:WxH]`` starts one headless Chromium with N pages (``emulators.web``); closing every page
    stops it.
    """
    parsed = parse_device_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "sim":
        return [SimDevice(seed=sim_seed + i, resolution=sim_resolution) for i in range(parsed.count)]
    if parsed.kind == "web":
        from emulators.web import DEFAULT_SIZE, open_web_devices

        return list(open_web_devices(parsed.count, page_size(parsed) or DEFAULT_SIZE, timeout_s=timeout_s))
    if parsed.kind in ("adb", "serial"):
        from emulators.adb import connect_devices

        return connect_devices(parsed, timeout_s=timeout_s)
    return _open_avd_pool(parsed, timeout_s)


def _open_avd_pool(spec: DeviceSpec, timeout_s: float) -> list[GuiDevice]:
    """Boot ``spec.count`` emulators of the AVD; closing all the devices stops the pool."""
    from emulators.avd import EmulatorPool, PoolConfig

    pool = EmulatorPool(PoolConfig(avd=spec.targets[0], count=spec.count, timeout_s=timeout_s))
    return list(pool.start())


def in_process(devices: Sequence[GuiDevice]) -> bool:
    """True when every device lives in this process (no I/O to overlap, no screen to let settle)."""
    return all(isinstance(d, SimDevice) for d in devices)


class Outcome(Generic[R]):
    """The value of one device call, or the ``DeviceError`` it raised, and how long it took."""

    __slots__ = ("value", "error", "seconds")

    def __init__(self, value: R | None, error: DeviceError | None, seconds: float) -> None:
        self.value = value
        self.error = error
        self.seconds = seconds

    @property
    def ok(self) -> bool:
        return self.error is None


def _timed(fn: Callable[[T], R], item: T) -> tuple[R, float]:
    t0 = time.perf_counter()
    value = fn(item)
    return value, time.perf_counter() - t0


class DeviceCalls:
    """Runs ``fn(item)`` for many items at once, a thread each, each waited on for at most ``timeout_s``.

    ``threads`` 0 or 1 runs the calls one after another in this thread (in-process simulators gain
    nothing from threads). A call still running at its deadline is reported as ``DeviceTimeout``; its
    thread is abandoned (a hung socket read cannot be interrupted) and the pool does not wait for it.
    """

    def __init__(self, threads: int, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError("device call timeout_s must be > 0")
        self.timeout_s = timeout_s
        self.threads = threads
        self._pool = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="device") if threads > 1 else None
        )

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[Outcome[R]]:
        if self._pool is None:
            return [self._direct(fn, item) for item in items]
        futures = [self._pool.submit(_timed, fn, item) for item in items]
        wait(futures, timeout=self.timeout_s)
        return [self._collect(f) for f in futures]

    def _direct(self, fn: Callable[[T], R], item: T) -> Outcome[R]:
        t0 = time.perf_counter()
        try:
            return Outcome(fn(item), None, time.perf_counter() - t0)
        except DeviceError as e:
            return Outcome(None, e, time.perf_counter() - t0)

    def _collect(self, future: Future[tuple[R, float]]) -> Outcome[R]:
        if not future.done():
            future.cancel()
            return Outcome(None, DeviceTimeout(f"no answer within {self.timeout_s:g} s"), self.timeout_s)
        error = future.exception()
        if error is None:
            value, seconds = future.result()
            return Outcome(value, None, seconds)
        if isinstance(error, DeviceError):
            return Outcome(None, error, 0.0)
        raise DeviceCallError(f"a device call failed: {type(error).__name__}: {error}") from error

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> DeviceCalls:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
