"""PhoneSim's ``/system/bin/sh``: runs a command line against a ``UiHost`` and returns (output, status).

Each ``run`` is a fresh shell process, as each ``adb shell CMD`` is: the working directory, variables and
``$?`` start over; the phone's state (settings, files, providers, screen) persists in the host. Output is
stdout and stderr interleaved, as ``adb shell`` delivers it. Pipelines run their commands one after another,
each reading the whole output of the one before. Every failure is a message and a non-zero status.
Every command runs under a time budget, and the whole line under the caller's timeout (``budget``).
"""

from __future__ import annotations

from dataclasses import dataclass

from emulators.phonesim.shell.base import (
    SH,
    BufferSink,
    Command,
    CommandIO,
    NullSink,
    ShellContext,
    Sink,
    encode_text,
)
from emulators.phonesim.shell.budget import DEFAULT_BUDGET_S, ShellClock
from emulators.phonesim.shell.content import CONTENT_COMMANDS
from emulators.phonesim.shell.device import DEVICE_COMMANDS, default_props
from emulators.phonesim.shell.errors import CommandFailed, ShellExit, ShellSyntaxError, ShellTimeout
from emulators.phonesim.shell.files import FILE_COMMANDS
from emulators.phonesim.shell.filters import FILTER_COMMANDS
from emulators.phonesim.shell.fs import DEV_NULL, FsError, SimFs
from emulators.phonesim.shell.parse import AndOr, Pipeline, Redir, SimpleCommand, Word, parse
from emulators.phonesim.shell.system import SYSTEM_COMMANDS
from emulators.phonesim.shell.text import TEXT_BUILTINS
from emulators.phonesim.ui_host import UiHost

MAX_NESTING = 8
ENVIRONMENT = {
    "HOME": "/", "USER": "shell", "SHELL": SH, "HOSTNAME": "localhost", "TMPDIR": "/data/local/tmp",
    "EXTERNAL_STORAGE": "/sdcard", "ANDROID_DATA": "/data", "ANDROID_ROOT": "/system",
    "PATH": "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:"
            "/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin",
}
_BIN_DIRS = ("/system/bin/", "/system/xbin/", "/bin/", "/vendor/bin/")


@dataclass
class FileSink:
    """Appends everything written to a file that the redirection already created or truncated."""

    fs: SimFs
    path: str

    def write(self, data: bytes) -> None:
        self.fs.write(self.path, data, append=True)


class PhoneShell:
    """The shell interpreter; ``run`` never raises for any input string.

    ``budget_s`` is the wall-clock time each command of a line may take (``budget``).
    """

    def __init__(self, host: UiHost, props: dict[str, str] | None = None, _depth: int = 0,
                 budget_s: float = DEFAULT_BUDGET_S) -> None:
        self.host = host
        self.fs = SimFs(host)
        self.props = {**default_props(host), **(props or {})}
        self.depth = _depth
        self.budget_s = budget_s
        self.clock = ShellClock(budget_s)
        self.commands: dict[str, Command] = {
            **TEXT_BUILTINS, **FILE_COMMANDS, **FILTER_COMMANDS, **SYSTEM_COMMANDS, **DEVICE_COMMANDS,
            **CONTENT_COMMANDS, "sh": self._sh, "toybox": self._toybox,
        }
        self.ctx = self._new_context()

    def _new_context(self) -> ShellContext:
        return ShellContext(host=self.host, fs=self.fs, props=self.props, variables=dict(ENVIRONMENT),
                            clock=self.clock)

    def run(self, cmd: str, timeout_s: float | None = None) -> tuple[bytes, int]:
        """Run one command line in a fresh shell; return (stdout+stderr bytes, exit status).

        Past ``timeout_s`` (None: no limit but the per-command budget) the line stops with status 124.
        """
        self.clock = ShellClock(self.budget_s, timeout_s)
        terminal = BufferSink()
        try:
            status = self.run_into(cmd, terminal)
        except ShellTimeout as e:  # the line's timeout: nothing more of it runs
            terminal.write(encode_text(f"{e}\n"))
            status = e.status
        return terminal.data, status

    def run_into(self, cmd: str, terminal: Sink) -> int:
        """Run ``cmd`` in a fresh shell writing to ``terminal``; ``ShellTimeout`` ends it (and passes on)."""
        self.ctx = self._new_context()
        try:
            lists = parse(cmd)
        except ShellSyntaxError as e:
            terminal.write(encode_text(str(e) + "\n"))
            return e.status
        status = 0
        try:
            for node in lists:
                status = self._and_or(node, terminal)
        except ShellExit as e:
            status = e.status
        return status

    # -- structure ------------------------------------------------------------------------------------
    def _and_or(self, node: AndOr, terminal: Sink) -> int:
        status = self._pipeline(node.first, terminal)
        for op, pipeline in node.rest:
            if (op == "&&") == (status == 0):
                status = self._pipeline(pipeline, terminal)
        return status

    def _pipeline(self, pipeline: Pipeline, terminal: Sink) -> int:
        stdin = b""
        status = 0
        for k, command in enumerate(pipeline.commands):
            last = k == len(pipeline.commands) - 1
            out: Sink = terminal if last else BufferSink()
            try:
                status = self._timed(command, stdin, out, terminal)
            except ShellExit as e:
                if len(pipeline.commands) == 1:
                    raise
                status = e.status  # each side of a pipe is its own process: exit ends only that side
            if isinstance(out, BufferSink):
                stdin = out.data
        if pipeline.negate:
            status = int(status == 0)
        self.ctx.last_status = status
        return status

    def _timed(self, command: SimpleCommand, stdin: bytes, stdout: Sink, terminal: Sink) -> int:
        """A command of the top-level shell gets its own budget; one past it ends with 124, as under
        toybox ``timeout``, and the line goes on (unless the line's own timeout is what ran out)."""
        if self.depth:
            return self._simple(command, stdin, stdout, terminal)
        self.clock.start_command()
        try:
            return self._simple(command, stdin, stdout, terminal)
        except ShellTimeout as e:
            if e.whole_line:
                raise
            terminal.write(encode_text(f"{e}\n"))
            return e.status

    def _simple(self, command: SimpleCommand, stdin: bytes, stdout: Sink, stderr: Sink) -> int:
        io = CommandIO(stdin, stdout, stderr)
        for name, word in command.assignments:
            self.ctx.variables[name] = self._expand(word)
        words = self._expand_words(command.words)
        try:
            self._redirect(command.redirs, io)
        except CommandFailed as e:
            io.err(f"{e}\n")
            return e.status
        if not words:
            return 0
        return self._dispatch(words, io)

    def _dispatch(self, words: list[str], io: CommandIO) -> int:
        name = words[0]
        if name.startswith(_BIN_DIRS):
            name = name.rsplit("/", 1)[1]
        func = self.commands.get(name)
        if func is None or not name:
            io.err(f"{SH}: {words[0]}: not found\n")
            return 127
        try:
            self.clock.check()
            return func(self.ctx, words[1:], io)
        except ShellTimeout as e:
            e.command = e.command or name
            raise
        except CommandFailed as e:
            io.err(f"{e}\n")
            return e.status
        except FsError as e:
            io.err(f"{name}: {e.reason}\n")
            return 1

    # -- expansion and redirection --------------------------------------------------------------------
    def _param(self, name: str) -> str:
        special = {"?": str(self.ctx.last_status), "$": "4242", "#": "0", "0": SH}
        if name in special:
            return special[name]
        return self.ctx.variables.get(name, "")

    def _expand(self, word: Word) -> str:
        return "".join(p.text if p.kind == "lit" else self._param(p.text) for p in word.parts)

    def _expand_words(self, words: list[Word]) -> list[str]:
        out: list[str] = []
        for word in words:
            text = self._expand(word)
            if not text and all(p.kind == "var" and not p.quoted for p in word.parts):
                continue  # an unquoted empty expansion is no argument at all
            globbing = any(p.kind == "lit" and not p.quoted and any(c in p.text for c in "*?[")
                           for p in word.parts)
            if globbing:
                mask = [p.kind != "lit" or p.quoted for p in word.parts
                        for _ in (p.text if p.kind == "lit" else self._param(p.text))]
                matches = self.fs.glob(self.ctx.cwd, text, mask)
                if matches:
                    out += matches
                    continue
            out.append(text)
        return out

    def _redirect(self, redirs: list[Redir], io: CommandIO) -> None:
        for r in redirs:
            target = self._expand(r.target)
            if r.op in (">&", "<&"):
                sinks: dict[str, Sink] = {"1": io.stdout, "2": io.stderr, "-": NullSink()}
                if target not in sinks:
                    raise CommandFailed(f"{SH}: {target}: illegal file descriptor name")
                self._assign(io, r.fd, sinks[target])
            elif r.op == "<":
                try:
                    data = self.fs.read(self.fs.resolve(self.ctx.cwd, target))
                except FsError as e:
                    raise CommandFailed(f"{SH}: can't open {target}: {e.reason}") from e
                if r.fd == 0:
                    io.stdin = data
            else:
                self._assign(io, r.fd, self._open_for_write(target, append=r.op == ">>", io=io))

    def _open_for_write(self, target: str, append: bool, io: CommandIO) -> Sink:
        streams: dict[str, Sink] = {"/dev/stdout": io.stdout, "/dev/stderr": io.stderr, "/dev/tty": io.stdout}
        if target in streams:
            return streams[target]
        try:
            path = self.fs.resolve(self.ctx.cwd, target)
            if path == DEV_NULL:
                return NullSink()
            self.fs.write(path, b"", append=append)
        except FsError as e:
            raise CommandFailed(f"{SH}: can't create {target}: {e.reason}") from e
        return FileSink(self.fs, path)

    @staticmethod
    def _assign(io: CommandIO, fd: int, sink: Sink) -> None:
        if fd == 1:
            io.stdout = sink
        elif fd == 2:
            io.stderr = sink

    # -- commands that run commands -------------------------------------------------------------------
    def _sh(self, ctx: ShellContext, args: list[str], io: CommandIO) -> int:
        if len(args) < 2 or args[0] != "-c":
            raise CommandFailed(f"{SH}: PhoneSim's sh runs only 'sh -c COMMAND'", 2)
        if self.depth >= MAX_NESTING:
            raise CommandFailed(f"{SH}: sh -c nested more than {MAX_NESTING} deep", 2)
        nested = PhoneShell(self.host, self.props, self.depth + 1, self.budget_s)
        nested.clock = self.clock  # the commands inside share the budget of this one
        return nested.run_into(args[1], io.stdout)  # a timeout inside raises past it: sh -c stops whole

    def _toybox(self, ctx: ShellContext, args: list[str], io: CommandIO) -> int:
        if not args:
            io.out(" ".join(sorted(set(FILE_COMMANDS) | set(FILTER_COMMANDS) | {"date", "sleep"})) + "\n")
            return 0
        if args[0] == "toybox":
            raise CommandFailed("toybox: toybox: not a toybox command")
        return self._dispatch(args, io)
