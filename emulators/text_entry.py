"""Safe text entry: shell command lines that make a device type exactly a given string.

The text passes two interpreters on the device. First the device ``sh`` parses the command line, so every
argument is single-quoted (nothing inside single quotes is special to ``sh``; an embedded ``'`` is written
``'\\''``). Then ``input text`` decodes its argument: each ``%s`` becomes a space (the rule of Android's
``InputShellCommand.sendText``). Spaces are therefore sent as ``%s``, and a literal ``%`` followed by a
literal ``s`` is split across two ``input text`` calls so the pair is never decoded. ``input text`` types
ASCII only, so anything else is refused with an error that names the character.
"""

from __future__ import annotations

import shlex

from emulators.errors import UntypeableText

TYPEABLE = frozenset(chr(c) for c in range(0x20, 0x7F))


def check_typeable(text: str) -> None:
    """Raise ``UntypeableText`` naming the first character ``input text`` cannot type."""
    for i, ch in enumerate(text):
        if ch not in TYPEABLE:
            hint = " (use the ENTER key for a new line)" if ch in "\r\n" else ""
            raise UntypeableText(
                f"cannot type {ch!r} (U+{ord(ch):04X}) at position {i}: `input text` types printable "
                f"ASCII only{hint}"
            )


def decode_input_text(arg: str) -> str:
    """What Android's ``input text ARG`` types: ``%s`` becomes a space, scanning left to right."""
    out: list[str] = []
    i = 0
    while i < len(arg):
        if arg[i] == "%" and i + 1 < len(arg) and arg[i + 1] == "s":
            out.append(" ")
            i += 2
        else:
            out.append(arg[i])
            i += 1
    return "".join(out)


def input_text_args(text: str) -> list[str]:
    """Split ``text`` into ``input text`` arguments whose decodings concatenate to ``text``."""
    check_typeable(text)
    chunks: list[str] = []
    current: list[str] = []
    for i, ch in enumerate(text):
        current.append("%s" if ch == " " else ch)
        # A literal '%' directly before a literal 's' would decode as a space: end the chunk here.
        if ch == "%" and i + 1 < len(text) and text[i + 1] == "s":
            chunks.append("".join(current))
            current = []
    if current:
        chunks.append("".join(current))
    return chunks


def input_text_commands(text: str) -> list[str]:
    """Shell command lines, one ``input text 'ARG'`` each, that type exactly ``text``."""
    return [f"input text {shlex.quote(arg)}" for arg in input_text_args(text)]
