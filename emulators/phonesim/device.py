"""``SimDevice``: an in-process PhoneSim behind the ``AndroidDevice`` interface.

The shell commands go to PhoneSim's shell interpreter (``emulators.phonesim.shell``), which drives the
``Phone``; screenshots come from the phone's renderer directly (no PNG round trip). A ``SimDevice`` can
``fork``: the copies share nothing mutable, so a group of episodes starts from one exact state.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from PIL import Image

from emulators.device import DEFAULT_TIMEOUT_S, AndroidDevice, ShellResult
from emulators.errors import InvalidAction
from emulators.phonesim.phone import Phone
from emulators.phonesim.shell.budget import DEFAULT_BUDGET_S
from emulators.phonesim.state import PhoneState

if TYPE_CHECKING:
    from emulators.phonesim.shell.interpreter import PhoneShell

_serials = itertools.count()


class SimDevice(AndroidDevice):
    """PhoneSim in this process. Same seed and same actions give byte-identical screens and state.

    ``shell_budget_s``: wall-clock seconds each shell command may run before it stops with status 124.
    """

    can_fork = True
    settle_s = 0.0  # in process: a screenshot after an action already shows it

    def __init__(self, seed: int = 0, resolution: str | tuple[int, int] = "default", randomize: bool = True,
                 state: PhoneState | None = None, shell_budget_s: float = DEFAULT_BUDGET_S) -> None:
        self.seed = seed
        self.shell_budget_s = shell_budget_s
        self.phone = Phone(state, seed=seed, resolution=resolution, randomize=randomize)
        self.name = f"sim-{next(_serials)}"
        self._shell: PhoneShell | None = None

    @property
    def state(self) -> PhoneState:
        return self.phone.state

    @property
    def shell_interpreter(self) -> PhoneShell:
        """The phone's shell (created on first use)."""
        if self._shell is None:
            from emulators.phonesim.shell.interpreter import PhoneShell

            self._shell = PhoneShell(self.phone, budget_s=self.shell_budget_s)
        return self._shell

    def shell(self, cmd: str, timeout: float | None = DEFAULT_TIMEOUT_S) -> ShellResult:
        """Run ``cmd`` in the simulated ``sh``; past ``timeout`` seconds it stops with status 124."""
        output, status = self.shell_interpreter.run(cmd, timeout)
        return ShellResult(output.decode("utf-8", errors="replace"), status)

    def exec_out(self, cmd: str) -> bytes:
        """Raw output bytes of ``cmd`` (as ``adb exec-out``), e.g. ``screencap -p``."""
        return self.shell_interpreter.run(cmd, DEFAULT_TIMEOUT_S)[0]

    def screenshot(self) -> Image.Image:
        return self.phone.render()

    @property
    def screen_size(self) -> tuple[int, int]:
        return self.phone.screen_size

    def wait(self, seconds: float) -> None:
        """Let simulated time pass (no real sleep)."""
        if seconds < 0:
            raise InvalidAction(f"cannot wait a negative time ({seconds} s)")
        self.phone.state.advance(round(seconds * 1000))

    def fork(self, n: int) -> list[SimDevice]:
        """``n`` independent devices in this device's exact state (UI stacks, fields, scroll, clock)."""
        if n < 0:
            raise InvalidAction(f"cannot fork {n} devices")
        return [self._copy() for _ in range(n)]

    def _copy(self) -> SimDevice:
        twin = SimDevice.__new__(SimDevice)
        twin.seed = self.seed
        twin.shell_budget_s = self.shell_budget_s
        twin.phone = self.phone.fork()
        twin.name = f"sim-{next(_serials)}"
        twin._shell = None
        if self._shell is not None:
            from emulators.phonesim.shell.interpreter import PhoneShell

            twin._shell = PhoneShell(twin.phone, props=dict(self._shell.props), budget_s=self.shell_budget_s)
        return twin
