"""Parsing a command line the way Android's ``/system/bin/sh`` (mksh) reads it, for a useful subset.

Supported: words with single quotes, double quotes and backslash escapes; ``$?``, ``$NAME``, ``${NAME}``;
``;``, ``&`` (run in order), ``&&``, ``||``, ``|``, ``!``; redirections ``<``, ``>``, ``>>``, ``>|``,
``N>``, ``N>&M``; ``#`` comments; ``NAME=value`` assignments. Command substitution, subshells, here-documents
and compound commands (``if``, ``for`` …) are refused with a syntax error before anything runs, so text a
model smuggles into a command line is visible instead of silently executed or dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from emulators.phonesim.shell.base import SH
from emulators.phonesim.shell.errors import ShellSyntaxError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPECIAL_PARAMS = set("?$#!-0123456789@*")
_RESERVED = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
             "function", "select", "{", "}", "[[", "]]", "time", "coproc"}
_OPERATOR_CHARS = set(";&|<>()\n")
_WORD_ENDS = _OPERATOR_CHARS | set(" \t\r")


@dataclass(frozen=True)
class Part:
    """A piece of a word: literal text, or a parameter (``kind='var'``) expanded when the command runs."""

    kind: str  # "lit" | "var"
    text: str
    quoted: bool


@dataclass
class Word:
    parts: list[Part] = field(default_factory=list)

    def literal(self) -> str | None:
        """The word's text if it is one unquoted literal (for reserved words and assignments)."""
        if len(self.parts) == 1 and self.parts[0].kind == "lit" and not self.parts[0].quoted:
            return self.parts[0].text
        return None


@dataclass(frozen=True)
class Op:
    text: str  # ";" "&" "&&" "||" "|" "\n"


@dataclass
class Redir:
    fd: int
    op: str  # "<" ">" ">>" ">&" "<&"
    target: Word


@dataclass
class SimpleCommand:
    assignments: list[tuple[str, Word]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirs: list[Redir] = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list[SimpleCommand]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)  # ("&&" | "||", pipeline)


Token = Word | Op | Redir


def _syntax(message: str) -> ShellSyntaxError:
    return ShellSyntaxError(f"{SH}: syntax error: {message}")


def _substitution_refused(snippet: str) -> ShellSyntaxError:
    return ShellSyntaxError(
        f"{SH}: command substitution is not supported by PhoneSim's sh: {snippet!r} (nothing was run)", 2)


class _Lexer:
    def __init__(self, line: str) -> None:
        self.s = line
        self.i = 0
        self.tokens: list[Token] = []
        self.word: list[Part] = []
        self.in_word = False

    # -- word building --------------------------------------------------------------------------------
    def _add(self, kind: str, text: str, quoted: bool) -> None:
        self.in_word = True
        if kind == "lit" and self.word and self.word[-1].kind == "lit" and self.word[-1].quoted == quoted:
            self.word[-1] = Part("lit", self.word[-1].text + text, quoted)
        elif kind == "var" or text or quoted:
            self.word.append(Part(kind, text, quoted))

    def _end_word(self) -> None:
        if self.in_word:
            self.tokens.append(Word(self.word))
        self.word, self.in_word = [], False

    # -- scanning -------------------------------------------------------------------------------------
    def run(self) -> list[Token]:
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch in " \t\r":
                self._end_word()
                self.i += 1
            elif ch == "#" and not self.in_word:
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
            elif ch in _OPERATOR_CHARS:
                self._operator(ch)
            else:
                self._word_char(ch)
        self._end_word()
        return self.tokens

    def _word_char(self, ch: str) -> None:
        if ch == "'":
            end = self.s.find("'", self.i + 1)
            if end < 0:
                raise _syntax("unterminated quoted string")
            self._add("lit", self.s[self.i + 1:end], True)
            self.i = end + 1
        elif ch == '"':
            self._double_quoted()
        elif ch == "\\":
            if self.i + 1 >= len(self.s):
                self._add("lit", "\\", False)
            elif self.s[self.i + 1] != "\n":  # backslash-newline continues the line
                self._add("lit", self.s[self.i + 1], True)
            self.i += 2
        elif ch == "$":
            self._dollar(quoted=False)
        elif ch == "`":
            raise _substitution_refused(self.s[self.i:self.i + 40])
        else:
            self._add("lit", ch, False)
            self.i += 1

    def _double_quoted(self) -> None:
        self.i += 1
        self._add("lit", "", True)
        while True:
            if self.i >= len(self.s):
                raise _syntax("unterminated quoted string")
            ch = self.s[self.i]
            if ch == '"':
                self.i += 1
                return
            if ch == "\\" and self.i + 1 < len(self.s) and self.s[self.i + 1] in '$`"\\\n':
                if self.s[self.i + 1] != "\n":
                    self._add("lit", self.s[self.i + 1], True)
                self.i += 2
            elif ch == "$":
                self._dollar(quoted=True)
            elif ch == "`":
                raise _substitution_refused(self.s[self.i:self.i + 40])
            else:
                self._add("lit", ch, True)
                self.i += 1

    def _dollar(self, quoted: bool) -> None:
        nxt = self.s[self.i + 1:self.i + 2]
        if nxt == "(":
            raise _substitution_refused(self.s[self.i:self.i + 40])
        if nxt == "{":
            end = self.s.find("}", self.i + 2)
            if end < 0:
                raise _syntax("unterminated ${")
            name = self.s[self.i + 2:end]
            if not (_NAME.fullmatch(name) or (len(name) == 1 and name in _SPECIAL_PARAMS)):
                raise ShellSyntaxError(f"{SH}: ${{{name}}}: bad substitution")
            self._add("var", name, quoted)
            self.i = end + 1
            return
        m = _NAME.match(self.s, self.i + 1)
        if m:
            self._add("var", m.group(0), quoted)
            self.i = m.end()
        elif nxt and nxt in _SPECIAL_PARAMS:
            self._add("var", nxt, quoted)
            self.i += 2
        else:
            self._add("lit", "$", quoted)
            self.i += 1

    def _operator(self, ch: str) -> None:
        two = self.s[self.i:self.i + 2]
        if ch in "<>":
            self._redirection()
            return
        self._end_word()
        if ch in "()":
            raise _syntax(f"'{ch}' unexpected (PhoneSim's sh has no subshells or functions)")
        if two in ("&&", "||"):
            self.tokens.append(Op(two))
            self.i += 2
        elif two == ";;" or two == "|&":
            raise _syntax(f"'{two}' unexpected")
        else:
            self.tokens.append(Op(ch))
            self.i += 1

    def _redirection(self) -> None:
        fd: int | None = None
        if self.in_word and len(self.word) == 1 and self.word[0].kind == "lit" and not self.word[0].quoted \
                and self.word[0].text.isdigit() and len(self.word[0].text) == 1:
            fd = int(self.word[0].text)
            self.word, self.in_word = [], False
        self._end_word()
        for op in (">>", ">&", "<&", ">|", "<<", "<>", ">", "<"):
            if self.s.startswith(op, self.i):
                break
        if op in ("<<", "<>"):
            raise _syntax(f"'{op}' is not supported by PhoneSim's sh")
        self.i += len(op)
        if fd is None:
            fd = 0 if op.startswith("<") else 1
        target = self._redirect_target(op)
        self.tokens.append(Redir(fd, ">" if op == ">|" else op, target))

    def _redirect_target(self, op: str) -> Word:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1
        while self.i < len(self.s) and self.s[self.i] not in _WORD_ENDS:
            self._word_char(self.s[self.i])
        if not self.in_word:
            following = self.s[self.i:self.i + 1].strip() or "newline"
            raise _syntax(f"'{following}' unexpected after '{op}'")
        target = Word(self.word)
        self.word, self.in_word = [], False
        return target


def tokenize(line: str) -> list[Token]:
    """Split a command line into words, operators and redirections; raise ``ShellSyntaxError``."""
    return _Lexer(line).run()


def _command(tokens: list[Token], i: int) -> tuple[SimpleCommand, int]:
    cmd = SimpleCommand()
    while i < len(tokens) and not isinstance(tokens[i], Op):
        tok = tokens[i]
        if isinstance(tok, Redir):
            cmd.redirs.append(tok)
        else:
            assert isinstance(tok, Word)
            text = tok.literal() if tok.parts and tok.parts[0].kind == "lit" else None
            lead = tok.parts[0] if tok.parts else None
            head = lead.text if lead and lead.kind == "lit" and not lead.quoted else ""
            if not cmd.words and "=" in head and _NAME.fullmatch(head.split("=", 1)[0]):
                name, first = head.split("=", 1)
                rest = [Part("lit", first, False)] + tok.parts[1:] if first else tok.parts[1:]
                cmd.assignments.append((name, Word(rest)))
            else:
                if not cmd.words and text in _RESERVED:
                    raise _syntax(f"'{text}' (compound commands) is not supported by PhoneSim's sh")
                cmd.words.append(tok)
        i += 1
    if not (cmd.words or cmd.redirs or cmd.assignments):
        found = tokens[i].text.strip() or "newline" if i < len(tokens) else "end of file"
        raise _syntax(f"'{found}' unexpected")
    return cmd, i


def _pipeline(tokens: list[Token], i: int) -> tuple[Pipeline, int]:
    negate = False
    if i < len(tokens) and isinstance(tokens[i], Word) and tokens[i].literal() == "!":
        negate, i = True, i + 1
    commands = []
    while True:
        cmd, i = _command(tokens, i)
        commands.append(cmd)
        if i < len(tokens) and tokens[i] == Op("|"):
            i += 1
            continue
        return Pipeline(commands, negate), i


def parse(line: str) -> list[AndOr]:
    """Parse a whole command line into and-or lists run one after another."""
    tokens = tokenize(line)
    lists: list[AndOr] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in (Op(";"), Op("&"), Op("\n")):
            if tokens[i] != Op("\n"):
                raise _syntax(f"'{tokens[i].text}' unexpected")
            i += 1
            continue
        first, i = _pipeline(tokens, i)
        node = AndOr(first)
        while i < len(tokens) and tokens[i] in (Op("&&"), Op("||")):
            op = tokens[i].text
            i += 1
            while i < len(tokens) and tokens[i] == Op("\n"):
                i += 1
            pipeline, i = _pipeline(tokens, i)
            node.rest.append((op, pipeline))
        lists.append(node)
        if i < len(tokens):  # a separator: ";", "&" or newline
            i += 1
    return lists
