"""Builtins of PhoneSim's shell: echo, true, false, exit, sleep, date, test and [.

Time never comes from the wall clock: ``date`` reads and ``sleep`` advances ``PhoneState``'s simulated clock.
"""

from __future__ import annotations

import datetime as dt
import re

from emulators.phonesim.shell.base import CommandIO, ShellContext
from emulators.phonesim.shell.errors import CommandFailed, ShellExit

_ECHO_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                 "\\": "\\"}
_SLEEP = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)")
MAX_SLEEP_S = 86_400
_SLEEP_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _echo_escapes(text: str) -> tuple[str, bool]:
    """Expand mksh echo's backslash escapes; the flag is False after ``\\c`` (stop, no newline)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch != "\\" or not nxt:
            out.append(ch)
            i += 1
        elif nxt == "c":
            return "".join(out), False
        elif nxt == "0":
            digits = re.match(r"[0-7]{0,3}", text[i + 2:]).group(0)
            out.append(chr(int(digits or "0", 8)))
            i += 2 + len(digits)
        else:
            out.append(_ECHO_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
    return "".join(out), True


def echo(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    newline, escapes = True, True
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = "E" not in args[0] if "E" in args[0] or "e" in args[0] else escapes
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text, keep_going = _echo_escapes(text)
        newline = newline and keep_going
    io.out(text + ("\n" if newline else ""))
    return 0


def true_builtin(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    return 0


def false_builtin(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    return 1


def exit_builtin(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args:
        raise ShellExit(ctx.last_status)
    if not re.fullmatch(r"-?\d+", args[0]):
        raise CommandFailed(f"/system/bin/sh: exit: {args[0]}: bad number", 2)
    raise ShellExit(int(args[0]) & 0xFF)


def sleep(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args:
        raise CommandFailed("sleep: Needs 1 argument")
    total = 0.0
    for arg in args:
        m = _SLEEP.fullmatch(arg)
        if m is None:
            raise CommandFailed(f"sleep: Not a number '{arg}'")
        total += float(m.group(1)) * _SLEEP_UNITS[m.group(2)]
    if total > MAX_SLEEP_S:
        raise CommandFailed(f"sleep: PhoneSim sleeps at most {MAX_SLEEP_S} s per call")
    ctx.state.advance(int(round(total * 1000)))
    ctx.state.touch()
    return 0


def format_date(moment: dt.datetime, fmt: str) -> str:
    """strftime with toybox's extras (%s epoch seconds, %N nanoseconds), one directive at a time."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] != "%" or i + 1 >= len(fmt):
            out.append(fmt[i])
            i += 1
            continue
        code = fmt[i + 1]
        if code == "s":
            out.append(str(int(moment.timestamp())))
        elif code == "N":
            out.append(f"{moment.microsecond * 1000:09d}")
        elif code.isalpha() or code == "%":
            out.append(moment.strftime("%" + code))
        else:
            out.append("%" + code)
        i += 2
    return "".join(out)


def date(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    fmt = "%a %b %e %H:%M:%S %Z %Y"
    for arg in args:
        if arg == "-u":
            continue
        if arg.startswith("+"):
            fmt = arg[1:]
        else:
            raise CommandFailed(f"date: cannot set date to '{arg}': Operation not permitted")
    try:
        io.out(format_date(ctx.state.now, fmt) + "\n")
    except (ValueError, OverflowError) as e:
        raise CommandFailed(f"date: bad format '{fmt}': {e}") from e
    return 0


# -- test / [ ------------------------------------------------------------------------------------------

def _unary(ctx: ShellContext, op: str, operand: str) -> bool:
    if op in ("-z", "-n"):
        return (operand == "") == (op == "-z")
    node = ctx.fs.node(ctx.fs.resolve(ctx.cwd, operand)) if operand else None
    checks = {"-e": node is not None, "-f": node is not None and not node.is_dir,
              "-d": node is not None and node.is_dir, "-s": node is not None and bool(node.data),
              "-r": node is not None, "-w": node is not None, "-x": node is not None and node.is_dir,
              "-L": False, "-h": False}
    if op not in checks:
        raise CommandFailed(f"test: unknown operand '{op}'", 2)
    return checks[op]


def _binary(left: str, op: str, right: str) -> bool:
    if op in ("=", "=="):
        return left == right
    if op == "!=":
        return left != right
    numeric = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
               "-gt": int.__gt__, "-ge": int.__ge__}
    if op not in numeric:
        raise CommandFailed(f"test: unknown operand '{op}'", 2)
    try:
        return numeric[op](int(left), int(right))
    except ValueError as e:
        raise CommandFailed(f"test: bad number '{left}' or '{right}'", 2) from e


def evaluate_test(ctx: ShellContext, args: list[str]) -> bool:
    if "-o" in args[1:-1]:
        at = args.index("-o", 1)
        return evaluate_test(ctx, args[:at]) or evaluate_test(ctx, args[at + 1:])
    if "-a" in args[1:-1]:
        at = args.index("-a", 1)
        return evaluate_test(ctx, args[:at]) and evaluate_test(ctx, args[at + 1:])
    if args and args[0] == "!":
        return not evaluate_test(ctx, args[1:])
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        return _unary(ctx, args[0], args[1])
    if len(args) == 3:
        return _binary(args[0], args[1], args[2])
    raise CommandFailed("test: too many arguments", 2)


def test_builtin(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    return 0 if evaluate_test(ctx, args) else 1


def bracket(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    if not args or args[-1] != "]":
        raise CommandFailed("[: missing ]", 2)
    return test_builtin(ctx, args[:-1], io)


TEXT_BUILTINS = {
    "echo": echo, "true": true_builtin, "false": false_builtin, "exit": exit_builtin, "sleep": sleep,
    "date": date, "test": test_builtin, "[": bracket,
}
