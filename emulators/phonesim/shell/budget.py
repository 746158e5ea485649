"""Time budgets of PhoneSim's shell: how long one command, and one whole command line, may run.

Each command the top-level shell runs gets ``budget_s`` of wall-clock time, as if Android ran it under
toybox ``timeout``: past it, the command stops with status 124 and the line goes on with the next command
(``$?`` is 124). A nested ``sh -c`` is one command of its parent, so everything inside it shares that
command's budget. The ``timeout`` given to ``Device.shell`` bounds the whole line: past it, the running
command stops with 124 and the rest of the line is not run.

Commands are Python code, so they cannot be killed: they call ``ShellClock.check`` where they loop over
their input (per file, every ``CHECK_EVERY`` lines), and the interpreter checks before every command.
"""

from __future__ import annotations

import math
import time

from emulators.phonesim.shell.errors import ShellTimeout

DEFAULT_BUDGET_S = 10.0
CHECK_EVERY = 1024  # lines between checks in per-line loops: ~1 ms of grep, so a budget overruns by little


class ShellClock:
    """The deadlines of one command line: its own (from ``timeout_s``) and the running command's."""

    def __init__(self, budget_s: float = DEFAULT_BUDGET_S, timeout_s: float | None = None) -> None:
        if not budget_s > 0:
            raise ValueError(f"a shell command's budget must be positive seconds, got {budget_s}")
        self.budget_s = budget_s
        self.timeout_s = timeout_s
        self._line_end = math.inf if timeout_s is None else time.monotonic() + timeout_s
        self._end = self._line_end
        self._limit_s = math.inf if timeout_s is None else timeout_s

    def start_command(self) -> None:
        """A top-level command starts: it may run ``budget_s``, and not past the line's timeout."""
        end = time.monotonic() + self.budget_s
        if end < self._line_end:
            self._end, self._limit_s = end, self.budget_s
        else:
            self._end, self._limit_s = self._line_end, math.inf if self.timeout_s is None else self.timeout_s

    def check(self) -> None:
        """Raise ``ShellTimeout`` once the running command (or the line) is out of time."""
        if time.monotonic() >= self._end:
            raise ShellTimeout(self._limit_s, whole_line=self._end == self._line_end)
