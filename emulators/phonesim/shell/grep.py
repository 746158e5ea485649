"""``grep`` of PhoneSim's shell (toybox options: -civEoqFnlhHwxsr, -e), matched in linear time by RE2.

Lines are matched as bytes, so binary input and any UTF-8 text go through unchanged. ``-w`` follows GNU
grep: a match counts where the characters on both sides are not word characters (ASCII letters, digits,
``_``); RE2 has no look-behind, so the pattern takes the character before and after as well, and the
match is its first group.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulators.phonesim.shell.base import CommandIO, ShellContext, read_inputs
from emulators.phonesim.shell.budget import CHECK_EVERY
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.regex import BadRegex, Regex, compile_linear, escape, to_bytes

_NOT_WORD = "[^0-9A-Za-z_]"


@dataclass(frozen=True)
class GrepPattern:
    """grep's patterns as one RE2; ``rest`` finds the matches after the first one on a line."""

    first: Regex
    rest: Regex
    group: int  # the group that is grep's match: 1 under -w, whose pattern also takes the delimiters

    def found(self, line: bytes) -> bool:
        return self.first.search(line) is not None

    def pieces(self, line: bytes) -> list[bytes]:
        """The non-empty matches of ``-o``, left to right."""
        out: list[bytes] = []
        regex, pos = self.first, 0
        while pos <= len(line):
            m = regex.search(line, pos)
            if m is None:
                break
            start, end = m.span(self.group)
            if end > start:
                out.append(line[start:end])
            nxt = end if end > start else end + 1  # where the next match may start at the earliest
            # under -w the delimiter before the next match may be the last matched character
            pos, regex = (max(nxt - 1, 0), self.rest) if self.group else (nxt, self.rest)
        return out


def _bre_to_ere(pattern: str) -> str:
    """A basic regular expression in RE2's syntax: ``\\( \\) \\{ \\} \\| \\+ \\?`` are the operators."""
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


def compile_grep(patterns: list[str], flags: set[str]) -> GrepPattern:
    """One RE2 for grep's patterns (BRE by default, ERE with -E, fixed strings with -F)."""
    pieces = []
    for p in patterns:
        piece = escape(p) if "F" in flags else to_bytes(p if "E" in flags else _bre_to_ere(p))
        pieces.append(b"(?:" + piece + b")")
    alternatives = b"|".join(pieces)
    word = "w" in flags and "x" not in flags  # under -x the whole line is the match: -w adds nothing
    if "x" in flags:
        first = rest = b"^(?:" + alternatives + b")$"
    elif word:
        after = f"(?:{_NOT_WORD}|$)".encode()
        first = f"(?:^|{_NOT_WORD})(".encode() + alternatives + b")" + after
        rest = f"{_NOT_WORD}(".encode() + alternatives + b")" + after
    else:
        first = rest = alternatives
    ignore_case = "i" in flags
    try:
        return GrepPattern(compile_linear(first, ignore_case), compile_linear(rest, ignore_case), int(word))
    except BadRegex as e:
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


def _grep_file(ctx: ShellContext, pattern: GrepPattern, flags: set[str], data: bytes,
               prefix: bytes) -> list[bytes]:
    """Output lines of grep for one input (without -c / -l / -q handling)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    invert, only = "v" in flags, "o" in flags and "v" not in flags
    for number, line in enumerate(lines, start=1):
        if number % CHECK_EVERY == 0:
            ctx.clock.check()
        if pattern.found(line) == invert:
            continue
        head = prefix + (b"%d:" % number if "n" in flags else b"")
        if only:
            out += [head + piece for piece in pattern.pieces(line)]
        else:
            out.append(head + line)
    return out


def grep(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    flags, patterns, files = _grep_options(args)
    pattern = compile_grep(patterns, flags)
    show_names = ("H" in flags or len(files) > 1) and "h" not in flags
    line_flags = flags - {"o"} if {"c", "l", "q"} & flags else flags
    matched_any, failed = False, False
    output: list[bytes] = []
    for name, data in read_inputs(ctx, io, "grep", files):
        if data is None:
            failed = True
            continue
        prefix = to_bytes(f"{name}:") if show_names else b""
        selected = _grep_file(ctx, pattern, line_flags, data, prefix)
        matched_any = matched_any or bool(selected)
        if "l" in flags:
            output += [to_bytes(name)] if selected else []
        elif "c" in flags:
            output.append(prefix + b"%d" % len(selected))
        else:
            output += selected
    if "q" in flags:
        return 0 if matched_any else (2 if failed else 1)
    if output:
        io.out(b"\n".join(output) + b"\n")
    if failed and "s" not in flags:
        return 2
    return 0 if matched_any else 1
