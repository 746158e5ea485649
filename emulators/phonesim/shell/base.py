"""Shared pieces of PhoneSim's shell: command I/O, the per-shell context and argument helpers.

Every command is a function ``(ctx, args, io) -> exit status``. A command that fails raises
``CommandFailed`` (message and status); the interpreter prints the message on stderr and carries on,
so no input ends the shell with a Python exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from emulators.phonesim.shell.budget import ShellClock
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.fs import FsError, SimFs
from emulators.phonesim.state import PhoneState
from emulators.phonesim.ui_host import UiHost

SH = "/system/bin/sh"


def encode_text(text: str) -> bytes:
    """UTF-8 bytes of shell text; undecodable input bytes (surrogate escapes) go back out unchanged."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


@dataclass
class BufferSink:
    """Collects bytes in memory (the terminal, or the write end of a pipe).

    Chunks are joined once at the end: a 10 MB raw screencap is then copied once, not grown in place.
    """

    chunks: list[bytes] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.chunks.append(bytes(data))

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


class NullSink:
    """``/dev/null``."""

    def write(self, data: bytes) -> None:
        return None


@dataclass
class CommandIO:
    """A command's standard streams: its whole stdin, and where fd 1 and fd 2 go."""

    stdin: bytes
    stdout: Sink
    stderr: Sink

    def out(self, data: bytes | str) -> None:
        self.stdout.write(encode_text(data) if isinstance(data, str) else data)

    def err(self, data: bytes | str) -> None:
        self.stderr.write(encode_text(data) if isinstance(data, str) else data)


@dataclass
class ShellContext:
    """What commands may reach: the UI host, its state, the filesystem view, shell variables, the clock."""

    host: UiHost
    fs: SimFs
    props: dict[str, str]
    cwd: str = "/"
    last_status: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    clock: ShellClock = field(default_factory=ShellClock)  # the command line's time budget

    @property
    def state(self) -> PhoneState:
        return self.host.state


Command = Callable[[ShellContext, list[str], CommandIO], int]


def parse_int(text: str, what: str, command: str) -> int:
    """An integer argument, or a usage error naming the command."""
    try:
        return int(text, 10)
    except ValueError as e:
        raise CommandFailed(f"{command}: invalid {what}: '{text}'") from e


def take_flags(args: list[str], allowed: str, command: str) -> tuple[set[str], list[str]]:
    """Split leading single-letter flags (``-la`` = ``-l -a``) from operands; ``--`` ends flags."""
    flags: set[str] = set()
    i = 0
    while i < len(args) and args[i].startswith("-") and len(args[i]) > 1:
        if args[i] == "--":
            i += 1
            break
        for letter in args[i][1:]:
            if letter not in allowed:
                raise CommandFailed(f"{command}: Unknown option '{letter}'")
            flags.add(letter)
        i += 1
    return flags, args[i:]


def read_inputs(ctx: ShellContext, io: CommandIO, command: str,
                files: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """(name, contents or None if unreadable) for each file operand, or stdin when there are none.

    Each next input first checks the command's time budget (``ShellClock.check``).
    """
    if not files:
        yield "(standard input)", io.stdin
    for name in files:
        ctx.clock.check()
        try:
            data = io.stdin if name == "-" else ctx.fs.read(ctx.fs.resolve(ctx.cwd, name))
        except FsError as e:
            io.err(f"{command}: {name}: {e.reason}\n")
            data = None
        yield name, data
