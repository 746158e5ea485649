"""``ShellTask``: the shape every template here takes — shell commands in, pure judgement out.

A template says

- ``setup_commands()``: shell lines that reset the state it depends on and preload its data (pure);
  ``prepare(device)`` for the rare setup step that must read a value back (a new contact's id);
- ``reads()``: named shell commands whose output the checks need (pure);
- ``judge(outputs, episode)``: the score from those outputs and the episode's claims (pure);
- optionally ``potential(outputs)`` for shaping and ``side_effects_of(before, after)``.

``setup`` force-stops the template's apps (so they open on their first screen), runs the commands, goes
HOME and saves the reads as the initial state; ``check`` runs the reads again and calls ``judge``. Every
judgement is therefore unit-testable with hand-written shell output, and a template never touches
simulator internals.
"""

from __future__ import annotations

from typing import Any, ClassVar

from emulators.device import AndroidDevice
from tasks.base import Episode, Task, TaskError

HOME_KEY = "input keyevent 3"


class ShellTask(Task):
    """A task whose setup and checks are shell commands and whose judgement is a pure function."""

    # Launcher labels of every app the task touches; setup force-stops each. Defaults to (app,).
    apps: ClassVar[tuple[str, ...]] = ()

    def setup_commands(self) -> list[str]:
        """Shell lines that bring the device to the start state."""
        return []

    def prepare(self, device: AndroidDevice) -> None:  # noqa: B027 - optional hook
        """Setup work that needs values read back from the device; runs after ``setup_commands``."""

    def reads(self) -> dict[str, str]:
        """Named shell commands whose outputs ``judge`` needs."""
        return {}

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        """The score in [0, 1] from ``reads`` outputs (and ``episode`` claims); pure."""
        raise NotImplementedError(f"{type(self).__name__} defines no judge()")

    def potential(self, outputs: dict[str, str]) -> float:
        """A shaping potential in [0, 1] from ``reads`` outputs; 0 where the template defines none."""
        return 0.0

    def side_effects_of(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        """Unrelated changes between the start reads and the end reads."""
        return []

    # -- the Task contract, built from the pieces above -------------------------------------------

    def read(self, device: AndroidDevice) -> dict[str, str]:
        return {key: device.check_shell(cmd) for key, cmd in self.reads().items()}

    def setup(self, device: AndroidDevice) -> dict[str, Any]:
        for app in self.apps or (self.app,):
            device.check_shell(f"am force-stop {device.resolve_app(app)}")
        for cmd in self.setup_commands():
            device.check_shell(cmd)
        self.prepare(device)
        device.check_shell(HOME_KEY)
        return {"reads": self.read(device)}

    def check(self, device: AndroidDevice, episode: Episode) -> float:
        self.require_setup(episode)
        score = float(self.judge(self.read(device), episode))
        if not 0.0 <= score <= 1.0:
            raise TaskError(f"{self.name}: judge returned {score}, outside [0, 1]")
        return score

    def progress(self, device: AndroidDevice) -> float:
        return float(self.potential(self.read(device)))

    def side_effects(self, device: AndroidDevice, episode: Episode) -> list[str]:
        before = self.require_setup(episode)["reads"]
        return self.side_effects_of(before, self.read(device))
