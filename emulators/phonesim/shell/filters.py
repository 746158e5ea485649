"""Filters of PhoneSim's shell (toybox behaviour): grep, head, tail, wc, sort, uniq.

They read their files, or stdin (the output of the command before the pipe), and write lines.
"""

from __future__ import annotations

import re

from emulators.phonesim.shell.base import CommandIO, ShellContext, parse_int
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.fs import FsError

_POSIX_CLASSES = {"[:digit:]": "0-9", "[:alpha:]": "A-Za-z", "[:alnum:]": "A-Za-z0-9", "[:upper:]": "A-Z",
                  "[:lower:]": "a-z", "[:space:]": " \\t\\n\\r\\f\\v", "[:blank:]": " \\t",
                  "[:xdigit:]": "0-9A-Fa-f", "[:punct:]": "!-/:-@\\[-`{-~"}


# -- grep, head, tail, wc ------------------------------------------------------------------------------

def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _emit(io: CommandIO, lines: list[str]) -> None:
    if lines:
        io.out("\n".join(lines) + "\n")


def _inputs(ctx: ShellContext, io: CommandIO, command: str,
            files: list[str]) -> list[tuple[str, bytes | None]]:
    """(name, contents or None if unreadable) for each file operand, or stdin when there are none."""
    if not files:
        return [("(standard input)", io.stdin)]
    found: list[tuple[str, bytes | None]] = []
    for name in files:
        try:
            found.append((name, io.stdin if name == "-" else ctx.fs.read(ctx.fs.resolve(ctx.cwd, name))))
        except FsError as e:
            io.err(f"{command}: {name}: {e.reason}\n")
            found.append((name, None))
    return found


def _bre_to_python(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}|+?" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + ch if ch in "(){}|+?" else ch)
        i += 1
    return "".join(out)


def compile_grep(patterns: list[str], flags: set[str]) -> re.Pattern[str]:
    """One regex for grep's patterns (BRE by default, ERE with -E, fixed strings with -F)."""
    pieces = []
    for p in patterns:
        if "F" in flags:
            piece = re.escape(p)
        else:
            for name, chars in _POSIX_CLASSES.items():
                p = p.replace(name, chars)
            piece = p if "E" in flags else _bre_to_python(p)
        if "w" in flags:
            piece = rf"(?<!\w)(?:{piece})(?!\w)"
        if "x" in flags:
            piece = rf"^(?:{piece})$"
        pieces.append(f"(?:{piece})")
    try:
        return re.compile("|".join(pieces), re.IGNORECASE if "i" in flags else 0)
    except (re.error, RecursionError, OverflowError) as e:
        raise CommandFailed(f"grep: bad regex '{'|'.join(patterns)}': {e}", 2) from e


def _grep_options(args: list[str]) -> tuple[set[str], list[str], list[str]]:
    """(flags, patterns, files) from grep's arguments."""
    flags: set[str] = set()
    patterns: list[str] = []
    i = 0
    while i < len(args) and args[i].startswith("-") and len(args[i]) > 1:
        arg = args[i]
        i += 1
        if arg == "--":
            break
        for j, letter in enumerate(arg[1:], start=1):
            if letter == "e":
                value = arg[j + 1:] or (args[i] if i < len(args) else None)
                if value is None:
                    raise CommandFailed("grep: option requires an argument -- e", 2)
                if not arg[j + 1:]:
                    i += 1
                patterns.append(value)
                break
            if letter not in "ivcEoqFnlhHwxsr":
                raise CommandFailed(f"grep: Unknown option '{letter}'", 2)
            flags.add(letter)
    rest = args[i:]
    if not patterns:
        if not rest:
            raise CommandFailed("grep: Needs 1 argument\n"
                                "usage: grep [-civEoqFnlwx] [-e PATTERN] PATTERN [FILE...]", 2)
        patterns, rest = [rest[0]], rest[1:]
    return flags, patterns, rest


def _grep_file(regex: re.Pattern[str], flags: set[str], lines: list[str], prefix: str) -> list[str]:
    """Output lines of grep for one input (without -c / -l / -q handling)."""
    out = []
    for number, line in enumerate(lines, start=1):
        found = regex.search(line) is not None
        if found == ("v" in flags):
            continue
        head = prefix + (f"{number}:" if "n" in flags else "")
        if "o" in flags and "v" not in flags:
            out += [head + m.group(0) for m in regex.finditer(line) if m.group(0)]
        else:
            out.append(head + line)
    return out


def grep(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    flags, patterns, files = _grep_options(args)
    regex = compile_grep(patterns, flags)
    inputs = _inputs(ctx, io, "grep", files)
    show_names = ("H" in flags or len(files) > 1) and "h" not in flags
    matched_any, failed = False, False
    output: list[str] = []
    for name, data in inputs:
        if data is None:
            failed = True
            continue
        prefix = f"{name}:" if show_names else ""
        line_flags = flags - {"o"} if {"c", "l", "q"} & flags else flags
        selected = _grep_file(regex, line_flags, _lines(data), prefix)
        matched_any = matched_any or bool(selected)
        if "l" in flags:
            output += [name] if selected else []
        elif "c" in flags:
            output.append(f"{prefix}{len(selected)}")
        else:
            output += selected
    if "q" in flags:
        return 0 if matched_any else (2 if failed else 1)
    _emit(io, output)
    if failed and "s" not in flags:
        return 2
    return 0 if matched_any else 1


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
        for _, data in _inputs(ctx, io, "head", args[2:]):
            io.out((data or b"")[:max(size, 0)])
        return 0
    count, files = _count_option(args, "head")
    n = parse_int(count.lstrip("+"), "number", "head")
    status = 0
    for _, data in _inputs(ctx, io, "head", files):
        if data is None:
            status = 1
            continue
        lines = _lines(data)
        _emit(io, lines[:n] if n >= 0 else lines[:n])
    return status


def tail(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    count, files = _count_option(args, "tail")
    status = 0
    for _, data in _inputs(ctx, io, "tail", files):
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
    for name, data in _inputs(ctx, io, "wc", files):
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
    for _, data in _inputs(ctx, io, "sort", files):
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
    for _, data in _inputs(ctx, io, "uniq", files[:1]):
        for line in _lines(data or b""):
            if runs and runs[-1][0] == line:
                runs[-1][1] += 1
            else:
                runs.append([line, 1])
    out = [f"{n:7d} {line}" if counting else line for line, n in runs]
    _emit(io, out)
    return 0


FILTER_COMMANDS = {"grep": grep, "head": head, "tail": tail, "wc": wc, "sort": sort, "uniq": uniq}
