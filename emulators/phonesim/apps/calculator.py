"""Calculator (com.android.calculator2): digit and operator keys, a formula line and a result line.

The expression being typed is UI state (``Screen.values``), as in AOSP's calculator; nothing persists.
``×`` and ``÷`` bind tighter than ``+`` and ``−``; results print with up to 12 significant digits and
an ASCII minus; dividing by zero prints "Error". The element ids follow AOSP (``digit_7``, ``op_add``,
``eq``, ``clr``, ``del``, ``formula``, ``result``).
"""

from __future__ import annotations

import math

from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.ui import Button, Canvas, Column, Look, Page, Row, Text, Widget
from emulators.phonesim.ui.theme import text_width

PKG = "com.android.calculator2"
OPERATORS = "+−×÷"
KEY_ROWS = (("C", "⌫", "%", "÷"), ("7", "8", "9", "×"), ("4", "5", "6", "−"), ("1", "2", "3", "+"),
            ("0", ".", "=",))
KEY_IDS = {"+": ("op_add", "plus"), "−": ("op_sub", "minus"), "×": ("op_mul", "multiply"),
           "÷": ("op_div", "divide"), "=": ("eq", "equals"), "C": ("clr", "clear"),
           "⌫": ("del", "delete"), ".": ("dec_point", "point"), "%": ("op_pct", "percent")}
ERROR = "Error"
# Pillow's bundled font has no ×, ÷ or −: the display draws ASCII look-alikes, the keys draw strokes.
DRAWN_AS = str.maketrans({"×": "x", "÷": "/", "−": "-"})


class CalcError(ArithmeticError):
    """An expression with no value: division by zero or a result too large to show."""


def tokenize(expr: str) -> list[str]:
    """Split ``12.5+3×4`` into numbers and operators; a leading ``−`` belongs to the first number."""
    tokens: list[str] = []
    number = ""
    for i, ch in enumerate(expr):
        if ch in OPERATORS and not (ch == "−" and i == 0):
            tokens += [number, ch]
            number = ""
        else:
            number += "-" if ch == "−" else ch
    tokens.append(number)
    return tokens


def _number(text: str) -> float:
    percent = text.endswith("%")
    value = float(text.rstrip("%") or "0")
    return value / 100 if percent else value


def evaluate(expr: str) -> float:
    """The value of ``expr`` with the usual precedence; raise ``CalcError`` where it has none."""
    tokens = tokenize(expr)
    terms: list[float] = [_number(tokens[0])]
    adds: list[str] = []
    for op, text in zip(tokens[1::2], tokens[2::2], strict=True):
        value = _number(text)
        if op == "×":
            terms[-1] *= value
        elif op == "÷":
            if value == 0:
                raise CalcError("division by zero")
            terms[-1] /= value
        else:
            adds.append(op)
            terms.append(value)
    total = terms[0]
    for op, value in zip(adds, terms[1:], strict=True):
        total = total + value if op == "+" else total - value
    if not math.isfinite(total):
        raise CalcError("overflow")
    return total


def format_number(value: float) -> str:
    """``24``, ``0.3``, ``-2.5``, ``1.23456789012e+20``: at most 12 significant digits, no ``-0``."""
    text = f"{value:.12g}"
    return "0" if text in ("-0", "0") else text


def _current_number(expr: str) -> str:
    """The number being typed at the end of ``expr``."""
    start = max((expr.rfind(op) for op in OPERATORS), default=-1)
    return expr[start + 1:]


def press(values: dict[str, object], key: str) -> None:
    """Apply one key to the calculator state ``values`` (``expr``, ``result``, ``done``)."""
    expr = str(values.get("expr", ""))
    result = str(values.get("result", ""))
    done = bool(values.get("done", False))
    if key == "C" or (key == "⌫" and done):
        expr, result, done = "", "", False
    elif key == "⌫":
        expr = expr[:-1]
    elif key == "=":
        if expr and expr[-1] not in OPERATORS and not done:
            try:
                result = format_number(evaluate(expr))
            except CalcError:
                result = ERROR
            done = True
    elif key in OPERATORS:
        if done:
            expr, result, done = ("" if result == ERROR else result.replace("-", "−")), "", False
        if expr and expr[-1] in OPERATORS:
            expr = expr[:-1] if len(expr) > 1 else expr
        if expr and expr[-1] not in OPERATORS:
            expr += key
        elif not expr and key == "−":
            expr = "−"
    else:
        if done:
            expr, result, done = "", "", False
        expr = _type_into_number(expr, key)
    values.update(expr=expr, result=result, done=done)


def _type_into_number(expr: str, key: str) -> str:
    """Append a digit, ``.`` or ``%`` to the number at the end of ``expr`` where that makes sense."""
    current = _current_number(expr)
    if current.endswith("%"):
        return expr
    if key == ".":
        if "." in current:
            return expr
        return expr + ("0." if current in ("", "−") else ".")
    if key == "%":
        return expr + "%" if current and current != "−" else expr
    if current == "0":
        return expr[:-1] + key
    return expr + key


class RightText(Text):
    """A single line of text drawn flush right (the calculator's display)."""

    def draw(self, cv: Canvas) -> None:
        size = cv.look.sp(self.size)
        x1, y1, x2, _ = self.bounds
        shown = self.text.translate(DRAWN_AS)
        while shown and text_width(shown, size) > x2 - x1:  # long formulas keep their end visible
            shown = shown[1:]
        colour = cv.pal.accent if self.role == "accent" else (
            cv.pal.secondary if self.role == "secondary" else cv.pal.on_background)
        cv.text(x2 - text_width(shown, size), y1, shown, size, colour)


class CalcKey(Button):
    """A large round-cornered key; operators are tinted with the accent colour."""

    def measure(self, look: Look, width: int) -> int:
        return look.px(68)

    def draw(self, cv: Canvas) -> None:
        x1, y1, x2, y2 = self.bounds
        m = cv.look.px(4)
        box = (x1 + m, y1 + m, x2 - m, y2 - m)
        operator = self.text in OPERATORS or self.text == "="
        fill = cv.pal.accent if operator else (cv.pal.pressed if self.text in "C⌫%" else cv.pal.surface)
        cv.rrect(box, cv.look.px(22), fill=fill)
        colour = cv.pal.on_accent if operator else cv.pal.on_background
        if self.text in "×÷−⌫+":
            _draw_symbol(cv, self.text, (box[0] + box[2]) // 2, (box[1] + box[3]) // 2, colour)
        else:
            cv.text_centered(box, self.text, cv.look.sp(24), colour)


def _draw_symbol(cv: Canvas, symbol: str, cx: int, cy: int, colour: tuple[int, int, int]) -> None:
    """Operator keys the font cannot draw, as strokes about 18 dp wide."""
    r, w = cv.look.px(8), max(2, cv.look.px(2.2))
    if symbol == "⌫":
        cv.icon("back", cx, cy, cv.look.px(26), colour)
        return
    if symbol == "×":
        cv.line([(cx - r, cy - r), (cx + r, cy + r)], colour, w)
        cv.line([(cx - r, cy + r), (cx + r, cy - r)], colour, w)
        return
    cv.line([(cx - r, cy), (cx + r, cy)], colour, w)
    if symbol == "+":
        cv.line([(cx, cy - r), (cx, cy + r)], colour, w)
    elif symbol == "÷":
        dot = max(2, cv.look.px(2))
        cv.circle(cx, cy - cv.look.px(6), dot, fill=colour)
        cv.circle(cx, cy + cv.look.px(6), dot, fill=colour)


def _key(ctx: AppContext, label: str) -> Widget:
    rid, desc = KEY_IDS.get(label, (f"digit_{label}", ""))
    key = CalcKey(label, lambda: press(ctx.screen.values, label), rid=f"{PKG}:id/{rid}", desc=desc,
                  weight=2 if label == "0" else 1)
    return key


@register
class CalculatorApp(App):
    package = PKG
    label = "Calculator"
    icon = "calculator"
    colour = (69, 90, 100)
    routes = {"main": ".Calculator"}

    def page_main(self, ctx: AppContext) -> Page:
        v = ctx.screen.values
        done = bool(v.get("done", False))
        formula = RightText(str(v.get("expr", "")), 30 if not done else 22,
                            "secondary" if done else "primary", rid=f"{PKG}:id/formula")
        # Long-clickable like AOSP's result view (long press copies it), so the accessibility tree
        # lists the result among the interactive elements; PhoneSim has no clipboard, it only says so.
        result = RightText(str(v.get("result", "")), 40, "accent", rid=f"{PKG}:id/result",
                           on_long_click=lambda: ctx.toast("Copied"))
        display = Column([Column([], weight=1), formula, result], pad=(20, 16, 20, 16), gap=8, weight=1,
                         rid=f"{PKG}:id/display")
        pad = Column([Row([_key(ctx, k) for k in row]) for row in KEY_ROWS], pad=(8, 4, 8, 12), bg="surface",
                     rid=f"{PKG}:id/pad_numeric")
        return self.page(ctx, None, Column([display, pad]))
