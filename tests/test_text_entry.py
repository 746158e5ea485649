"""Safe text entry: typed text reaches `input text` quoted, and decodes back to exactly the original."""

import shlex
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.errors import UntypeableText
from emulators.text_entry import decode_input_text, input_text_commands

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60)


def typed_by(commands: list[str]) -> str:
    """What a device types for these command lines: sh splits them, then `input text` decodes."""
    out = []
    for line in commands:
        argv = shlex.split(line, posix=True)
        assert argv[:2] == ["input", "text"] and len(argv) == 3, line
        out.append(decode_input_text(argv[2]))
    return "".join(out)


@settings(max_examples=400, deadline=None)
@given(PRINTABLE)
def test_any_printable_ascii_is_typed_exactly(text):
    commands = input_text_commands(text)
    assert typed_by(commands) == text
    # The shell must see no operator: shlex in punctuation mode finds none outside the quotes.
    for line in commands:
        lexer = shlex.shlex(line, posix=False, punctuation_chars=True)  # quotes kept on tokens
        tokens = list(lexer)
        assert tokens[:2] == ["input", "text"]
        assert not [t for t in tokens if set(t) <= set("();<>|&")], tokens


@pytest.mark.parametrize(
    "text",
    ["; reboot", "$(rm -rf /)", "`id`", "a && b", "x | sh", "'quoted'", '"dq"', "back\\slash", "~/*?#!",
     "100%s", "%s%s", "%%s", "50% sure", "a b  c", string.punctuation],
)
def test_metacharacters_and_percent_s(text):
    assert typed_by(input_text_commands(text)) == text


def test_literal_percent_s_needs_two_calls():
    commands = input_text_commands("%s")
    assert len(commands) == 2
    assert typed_by(commands) == "%s"


def test_spaces_become_percent_s():
    assert input_text_commands("hi there") == ["input text hi%sthere"]


@pytest.mark.parametrize(
    "text,bad", [("café", "é"), ("line\nbreak", "\\n"), ("tab\there", "\\t"), ("日本", "日")]
)
def test_untypeable_text_is_refused_naming_the_character(text, bad):
    with pytest.raises(UntypeableText, match=bad.replace("\\", "\\\\")):
        input_text_commands(text)


def test_decoder_matches_android_rules():
    assert decode_input_text("a%sb") == "a b"
    assert decode_input_text("%%s") == "% "
    assert decode_input_text("100%") == "100%"
    assert decode_input_text("%S") == "%S"
