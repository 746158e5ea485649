"""Regular expressions of PhoneSim's shell (grep, SQL LIKE, globs), matched in linear time by RE2.

Python's ``re`` backtracks: ``grep -E '(a*)*b'`` on 25 characters takes seconds, doubles with each more,
and holds the GIL all the while, so every other sim in the process waits. RE2 (``google-re2``) matches in
time linear in the text. What it cannot match in linear time (backreferences, look-around) it refuses, and
the shell reports a bad regex. Patterns and texts are UTF-8 bytes (undecodable bytes pass through as
surrogate escapes); a pattern that is not valid UTF-8 is matched byte by byte.
"""

from __future__ import annotations

import functools
import re

import re2

from emulators.phonesim.shell.errors import ShellError

Regex = re2._Regexp  # google-re2 has no public name for a compiled pattern
_BACKREFERENCE = re.compile(r"invalid escape sequence: \\[1-9]")
_LOOKAROUND = re.compile(r"invalid perl operator: \(\?<?[=!]")


class BadRegex(ShellError):
    """A pattern RE2 cannot compile; the message says why in one line."""

    status = 2


def to_bytes(text: str) -> bytes:
    """Shell text as the bytes it came from (surrogate escapes back to their bytes)."""
    return text.encode("utf-8", "surrogateescape")


def _reason(error: re2.error) -> str:
    raw = error.args[0] if error.args else b""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if _BACKREFERENCE.search(message):
        return "backreferences are not supported (PhoneSim matches in linear time)"
    if _LOOKAROUND.search(message):
        return "look-around is not supported (PhoneSim matches in linear time)"
    return message


@functools.lru_cache(maxsize=256)
def compile_linear(pattern: bytes, ignore_case: bool = False, dot_nl: bool = False) -> Regex:
    """RE2 for ``pattern`` (Perl-like syntax); raise ``BadRegex`` for what RE2 refuses."""
    options = re2.Options()
    options.log_errors = False  # RE2 would log every bad pattern to the server's stderr
    options.case_sensitive = not ignore_case
    options.dot_nl = dot_nl
    try:
        pattern.decode("utf-8")
    except UnicodeDecodeError:
        options.encoding = re2.Options.Encoding.LATIN1
    try:
        return re2.compile(pattern, options)
    except re2.error as e:
        raise BadRegex(_reason(e)) from e


def escape(text: str) -> bytes:
    """``text`` as a pattern that matches it literally."""
    return re2.escape(to_bytes(text))
