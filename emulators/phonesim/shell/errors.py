"""PhoneSim shell errors; every one carries the exit status the shell reports."""

from __future__ import annotations

from emulators.errors import DeviceError


class ShellError(DeviceError):
    """Base class of PhoneSim shell errors; always carries the exit status to report."""

    status: int = 1


class ShellSyntaxError(ShellError):
    """The command line cannot be parsed (or uses shell syntax PhoneSim refuses)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class CommandFailed(ShellError):
    """A command failed; ``message`` goes to stderr and ``status`` becomes ``$?``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class ShellExit(ShellError):
    """The ``exit`` builtin: stop running the command line with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"exit {status}")
        self.status = status


class ShellTimeout(ShellError):
    """A command ran past its time budget (or the command line past its timeout): status 124, as toybox
    ``timeout`` reports. ``command`` is filled in by the command that was running."""

    status = 124

    def __init__(self, limit_s: float, whole_line: bool) -> None:
        super().__init__(f"timed out after {limit_s:g} s")
        self.limit_s = limit_s
        self.whole_line = whole_line
        self.command = ""

    def __str__(self) -> str:
        return f"{self.command or 'sh'}: timed out after {self.limit_s:g} s"
