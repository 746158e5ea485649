"""Filters of PhoneSim's shell (toybox behaviour): grep (in ``grep``), head, tail, wc, sort, uniq.

They read their files, or stdin (the output of the command before the pipe), and write lines.
"""

from __future__ import annotations

import re

from emulators.phonesim.shell.base import CommandIO, ShellContext, parse_int, read_inputs
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.grep import grep

# -- head, tail, wc ------------------------------------------------------------------------------

def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _emit(io: CommandIO, lines: list[str]) -> None:
    if lines:
        io.out("\n".join(lines) + "\n")


def _count_option(args: list[str], command: str) -> tuple[str, list[str]]:
    """The -n value of head/tail (``-n N``, ``-nN``, ``-N``) and the remaining operands."""
    count = "10"
    rest = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-n" and i + 1 < len(args):
            count, i = args[i + 1], i + 2
            continue
        if arg.startswith("-n") and len(arg) > 2:
            count = arg[2:]
        elif re.fullmatch(r"-\d+", arg):
            count = arg[1:]
        elif arg.startswith("-") and arg != "-":
            raise CommandFailed(f"{command}: Unknown option '{arg}'")
        else:
            rest.append(arg)
        i += 1
    if not re.fullmatch(r"[+-]?\d+", count):
        raise CommandFailed(f"{command}: invalid number '{count}'")
    return count, rest


def head(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if args[:1] == ["-c"] and len(args) >= 2:
        size = parse_int(args[1], "number", "head")
        for _, data in read_inputs(ctx, io, "head", args[2:]):
            io.out((data or b"")[:max(size, 0)])
        return 0
    count, files = _count_option(args, "head")
    n = parse_int(count.lstrip("+"), "number", "head")
    status = 0
    for _, data in read_inputs(ctx, io, "head", files):
        if data is None:
            status = 1
            continue
        lines = _lines(data)
        _emit(io, lines[:n] if n >= 0 else lines[:n])
    return status


def tail(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    count, files = _count_option(args, "tail")
    status = 0
    for _, data in read_inputs(ctx, io, "tail", files):
        if data is None:
            status = 1
            continue
        lines = _lines(data)
        if count.startswith("+"):
            _emit(io, lines[max(int(count[1:]) - 1, 0):])
        else:
            n = abs(int(count))
            _emit(io, lines[len(lines) - n:] if n else [])
    return status


def wc(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    letters = {a[1:] for a in args if a.startswith("-") and a != "-"}
    files = [a for a in args if not a.startswith("-") or a == "-"]
    flags = set("".join(letters))
    if flags - set("lwcm"):
        raise CommandFailed(f"wc: Unknown option '{''.join(sorted(flags - set('lwcm')))}'")
    shown = [f for f in "lwc" if f in flags or (f == "c" and "m" in flags)] or ["l", "w", "c"]
    status = 0
    for name, data in read_inputs(ctx, io, "wc", files):
        if data is None:
            status = 1
            continue
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        line = " ".join(str(counts[f]) for f in shown)
        io.out(line + (f" {name}" if files else "") + "\n")
    return status


def sort(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    flags = set("".join(a[1:] for a in args if a.startswith("-") and a != "-"))
    files = [a for a in args if not a.startswith("-") or a == "-"]
    if flags - set("rnuf"):
        raise CommandFailed(f"sort: Unknown option '{''.join(sorted(flags - set('rnuf')))}'")
    lines: list[str] = []
    for _, data in read_inputs(ctx, io, "sort", files):
        lines += _lines(data or b"")

    def key(line: str) -> tuple[float, str]:
        text = line.lower() if "f" in flags else line
        if "n" in flags:
            m = re.match(r"\s*(-?\d+(?:\.\d+)?)", line)
            return (float(m.group(1)) if m else 0.0, text)
        return (0.0, text)

    lines.sort(key=key, reverse="r" in flags)
    if "u" in flags:
        lines = list(dict.fromkeys(lines))
    _emit(io, lines)
    return 0


def uniq(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    counting = "-c" in args
    files = [a for a in args if a != "-c"]
    out: list[str] = []
    runs: list[list] = []
    for _, data in read_inputs(ctx, io, "uniq", files[:1]):
        for line in _lines(data or b""):
            if runs and runs[-1][0] == line:
                runs[-1][1] += 1
            else:
                runs.append([line, 1])
    out = [f"{n:7d} {line}" if counting else line for line, n in runs]
    _emit(io, out)
    return 0


FILTER_COMMANDS = {"grep": grep, "head": head, "tail": tail, "wc": wc, "sort": sort, "uniq": uniq}
