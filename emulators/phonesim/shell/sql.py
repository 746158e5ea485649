"""The SQL subset of ``content --where`` and ``--sort``, evaluated the way SQLite would.

WHERE: comparisons (``= == != <> < <= > >=``), ``LIKE`` (``%`` and ``_``, ASCII case-insensitive),
``IS [NOT] NULL``, ``[NOT] IN (...)``, ``AND``, ``OR``, ``NOT``, parentheses, single-quoted strings (``''``
escapes a quote), integers and decimals. NULL follows SQL's three-valued logic. Values compare as in SQLite:
NULL < numbers < text, and text that looks like a number compares as that number against a number.
ORDER BY: ``col [ASC|DESC][, col ...]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from emulators.phonesim.shell.errors import ShellError
from emulators.phonesim.shell.regex import compile_linear, escape, to_bytes

Value = int | float | str | None
Row = dict[str, Value]
Expr = Callable[[Row], Any]

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?|\.\d+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*|"[^"]+"|`[^`]+`)
  | (?P<op><=|>=|==|!=|<>|[=<>(),])
  | (?P<bad>\S)
)""", re.VERBOSE)
_KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IS", "NULL", "IN", "ASC", "DESC"}
MAX_DEPTH = 64
_COMPARE = {"=", "==", "!=", "<>", "<", "<=", ">", ">="}


class SqlError(ShellError):
    """A WHERE or ORDER BY clause PhoneSim cannot parse, or one naming an unknown column."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup == "bad":
            bad = text[m.start("bad")] if m else text[pos]
            raise SqlError(f'near "{bad}": syntax error')
        kind, value = m.lastgroup or "", m.group(m.lastgroup or 0)
        if kind == "ident" and value.upper() in _KEYWORDS:
            kind, value = "kw", value.upper()
        out.append((kind, value))
        pos = m.end()
    return out


def _numeric(v: Value) -> int | float | None:
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return int(v) if re.fullmatch(r"\s*[+-]?\d+\s*", v) else float(v)
        except ValueError:
            return None
    return None


def sort_key(v: Value) -> tuple[int, Any]:
    """SQLite's ordering of values: NULL, then numbers, then text."""
    if v is None:
        return (0, 0)
    if isinstance(v, (int, float)):
        return (1, v)
    return (2, v)


def compare(a: Value, b: Value) -> int | None:
    """-1, 0 or 1 as SQLite compares ``a`` and ``b``; None when either is NULL."""
    if a is None or b is None:
        return None
    if isinstance(a, str) != isinstance(b, str):  # a number against text: text that is a number converts
        na, nb = _numeric(a), _numeric(b)
        if na is not None and nb is not None:
            a, b = na, nb
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


def like(value: Value, pattern: Value) -> bool | None:
    """SQL ``value LIKE pattern`` (NULL if either is NULL), in time linear in the value (RE2)."""
    if value is None or pattern is None:
        return None
    text = str(pattern)
    regex = b"".join(b".*" if c == "%" else b"." if c == "_" else escape(c) for c in text)
    return compile_linear(regex, ignore_case=True, dot_nl=True).fullmatch(to_bytes(str(value))) is not None


def truthy(v: Any) -> bool:
    """Whether a WHERE result selects the row (NULL and 0 do not)."""
    if v is None:
        return False
    num = _numeric(v) if isinstance(v, str) else v
    return bool(num)


def _and(a: Any, b: Any) -> bool | None:
    if a is False or b is False or (a is not None and not truthy(a)) or (b is not None and not truthy(b)):
        return False
    return None if a is None or b is None else True


def _or(a: Any, b: Any) -> bool | None:
    if (a is not None and truthy(a)) or (b is not None and truthy(b)):
        return True
    return None if a is None or b is None else False


def _not(a: Any) -> bool | None:
    return None if a is None else not truthy(a)


class _Parser:
    def __init__(self, text: str, columns: set[str]) -> None:
        self.tokens = _tokens(text)
        self.i = 0
        self.columns = columns
        self.depth = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SqlError(f"clause nested more than {MAX_DEPTH} deep")

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        return value is None or self.tokens[self.i][1] == value

    def take(self, value: str | None = None) -> tuple[str, str]:
        if not self.peek(value):
            near = self.tokens[self.i][1] if self.i < len(self.tokens) else "end of clause"
            raise SqlError(f'near "{near}": syntax error')
        self.i += 1
        return self.tokens[self.i - 1]

    def column(self, name: str) -> str:
        name = name.strip('"`')
        if name not in self.columns:
            raise SqlError(f"no such column: {name}")
        return name

    def parse_where(self) -> Expr:
        expr = self.or_expr()
        if self.i < len(self.tokens):
            self.take("<end>")
        return expr

    def or_expr(self) -> Expr:
        left = self.and_expr()
        while self.peek("OR"):
            self.take()
            right, prev = self.and_expr(), left
            left = (lambda lhs, rhs: lambda row: _or(lhs(row), rhs(row)))(prev, right)
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.peek("AND"):
            self.take()
            right, prev = self.not_expr(), left
            left = (lambda lhs, rhs: lambda row: _and(lhs(row), rhs(row)))(prev, right)
        return left

    def not_expr(self) -> Expr:
        if self.peek("NOT"):
            self.take()
            self.nest()
            inner = self.not_expr()
            return lambda row: _not(inner(row))
        return self.predicate()

    def predicate(self) -> Expr:
        left = self.operand()
        negate = False
        if self.peek("NOT"):
            self.take()
            negate = True
            if not (self.peek("LIKE") or self.peek("IN")):
                self.take("LIKE")
        result = self._predicate_tail(left)
        return (lambda row: _not(result(row))) if negate else result

    def _predicate_tail(self, left: Expr) -> Expr:
        if self.i < len(self.tokens) and self.tokens[self.i][1] in _COMPARE:
            op = self.take()[1]
            right = self.operand()
            tests = {"=": lambda c: c == 0, "==": lambda c: c == 0, "!=": lambda c: c != 0,
                     "<>": lambda c: c != 0, "<": lambda c: c < 0, "<=": lambda c: c <= 0,
                     ">": lambda c: c > 0, ">=": lambda c: c >= 0}
            test = tests[op]

            def comparison(row: Row) -> bool | None:
                c = compare(left(row), right(row))
                return None if c is None else test(c)
            return comparison
        if self.peek("LIKE"):
            self.take()
            pattern = self.operand()
            return lambda row: like(left(row), pattern(row))
        if self.peek("IS"):
            self.take()
            is_not = self.peek("NOT") and bool(self.take())
            self.take("NULL")
            return lambda row: (left(row) is None) != is_not
        if self.peek("IN"):
            return self._in_list(left)
        return left

    def _in_list(self, left: Expr) -> Expr:
        self.take("IN")
        self.take("(")
        items = [self.operand()]
        while self.peek(","):
            self.take()
            items.append(self.operand())
        self.take(")")

        def member(row: Row) -> bool | None:
            value = left(row)
            if value is None:
                return None
            return any(compare(value, item(row)) == 0 for item in items)
        return member

    def operand(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            number: Value = float(value) if "." in value else int(value)
            return lambda row: number
        if kind == "str":
            text = value[1:-1].replace("''", "'")
            return lambda row: text
        if kind == "kw" and value == "NULL":
            return lambda row: None
        if kind == "ident":
            name = self.column(value)
            return lambda row: row.get(name)
        if value == "(":
            self.nest()
            inner = self.or_expr()
            self.take(")")
            return inner
        raise SqlError(f'near "{value}": syntax error')


def parse_where(text: str, columns: set[str]) -> Callable[[Row], bool]:
    """A row predicate for a WHERE clause over ``columns``; raise ``SqlError``."""
    if not text.strip():
        return lambda row: True
    expr = _Parser(text, columns).parse_where()
    return lambda row: truthy(expr(row))


def parse_sort(text: str, columns: set[str]) -> list[tuple[str, bool]]:
    """(column, descending) pairs of an ORDER BY clause."""
    order: list[tuple[str, bool]] = []
    parser = _Parser(text, columns)
    while parser.i < len(parser.tokens):
        name = parser.column(parser.take()[1])
        descending = False
        if parser.peek("ASC") or parser.peek("DESC"):
            descending = parser.take()[1] == "DESC"
        order.append((name, descending))
        if parser.i < len(parser.tokens):
            parser.take(",")
    return order


def sort_rows(rows: list[Row], order: list[tuple[str, bool]]) -> list[Row]:
    for name, descending in reversed(order):
        rows = sorted(rows, key=lambda r, n=name: sort_key(r.get(n)), reverse=descending)
    return rows
