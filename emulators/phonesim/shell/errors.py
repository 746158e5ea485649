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
