"""Named errors of the device layer.

Every error says which device it concerns and what to try. Callers catch these names, never a bare
``Exception``; only ``DeviceUnreachable`` and ``DeviceTimeout`` are worth retrying.
"""

from __future__ import annotations


class DeviceError(Exception):
    """Base class of every error raised by the device layer."""


class BadDeviceSpec(DeviceError, ValueError):
    """A device spec string does not follow the grammar."""


class InvalidAction(DeviceError, ValueError):
    """A device action was built with values no device can carry out."""


class UntypeableText(InvalidAction):
    """Text that ``input text`` cannot type (non-ASCII or control characters)."""


class DeviceUnreachable(DeviceError):
    """The device could not be reached (connection refused, reset or closed)."""


class DeviceTimeout(DeviceError):
    """A device call did not finish within its timeout."""


class AuthRefused(DeviceError):
    """The device refused this host's ADB key."""


class ShellCommandFailed(DeviceError):
    """A shell command that had to succeed exited with a non-zero status."""

    def __init__(self, command: str, exit_code: int, output: str, device: str = "") -> None:
        where = f" on {device}" if device else ""
        super().__init__(
            f"shell command failed{where} (exit {exit_code}): {command!r}\n{output.strip()[:500]}"
        )
        self.command = command
        self.exit_code = exit_code
        self.output = output


class ForkUnsupported(DeviceError):
    """The device cannot copy its state; run the group on several devices instead."""


class SdkToolMissing(DeviceError):
    """An Android SDK tool (``emulator`` or ``adb``) was not found where it was looked for."""


class EmulatorFailed(DeviceError):
    """An emulator instance would not start, boot or stop, or its console refused a command."""
