"""Seeded fault injection for the ADB server, to test that clients recover or fail by name, never hang.

A ``FaultPlan`` gives a rate for each fault; the server draws every decision from one RNG per fault kind,
seeded from the plan, so a plan replays the same faults for the same sequence of events:

- ``refuse_rate``: per accepted connection, reset it at once (RST) before any byte is read;
- ``drop_rate``: per WRTE sent, send only the first half of the message, then drop the connection;
- ``delay_rate`` / ``delay_s``: per message sent, wait ``delay_s`` first (replies arrive late);
- ``truncate_rate``: per WRTE about to be sent, end the stream there with a clean CLSE, as a device whose
  command died mid-output would, so the client gets a short but well-formed answer.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass

KINDS = ("refuse", "drop", "delay", "truncate")


@dataclass(frozen=True)
class FaultPlan:
    """Rates (0-1) of each fault and the seed of their RNGs; see the module docstring."""

    seed: int = 0
    refuse_rate: float = 0.0
    drop_rate: float = 0.0
    delay_rate: float = 0.0
    delay_s: float = 0.05
    truncate_rate: float = 0.0

    def __post_init__(self) -> None:
        for kind in KINDS:
            rate = getattr(self, f"{kind}_rate")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{kind}_rate must be between 0 and 1, got {rate}")
        if self.delay_s < 0:
            raise ValueError(f"delay_s must not be negative, got {self.delay_s}")

    def injector(self) -> FaultInjector:
        return FaultInjector(self)


class FaultInjector:
    """The server-side state of a plan: its RNGs and how many faults of each kind it has injected."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.injected: Counter[str] = Counter()
        self._rngs = {kind: random.Random(f"{plan.seed}:{kind}") for kind in KINDS}
        self._lock = threading.Lock()

    def _draw(self, kind: str) -> bool:
        rate = getattr(self.plan, f"{kind}_rate")
        if rate <= 0.0:
            return False
        with self._lock:
            hit = self._rngs[kind].random() < rate
            if hit:
                self.injected[kind] += 1
        return hit

    def refuse(self) -> bool:
        return self._draw("refuse")

    def drop(self) -> bool:
        return self._draw("drop")

    def truncate(self) -> bool:
        return self._draw("truncate")

    def delay(self) -> float:
        """Seconds to wait before the next message (0 when no delay is drawn)."""
        return self.plan.delay_s if self._draw("delay") else 0.0


def reset_connection(sock: socket.socket) -> None:
    """Close ``sock`` so that the peer sees a reset (RST), not an orderly end of stream."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()
