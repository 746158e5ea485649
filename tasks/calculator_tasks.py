"""Calculator templates: work out an arithmetic expression in the Calculator and answer with the result.

Simulator-only (AOSP Calculator, ``com.android.calculator2``; nothing persists, so there is no state to
read): the check judges the answer alone. Expressions are written in ASCII (``*`` and ``/``) with the usual
precedence, and every division is exact, so results are integers. Difficulty grows with the number of
operands (2, 3, 4–5). The answer must hold exactly one number, equal to the result (``number_matches``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from fractions import Fraction
from typing import Any, ClassVar

from emulators.actions import Answer
from emulators.device import AndroidDevice
from tasks import oracle_utils as ou
from tasks.base import Episode, Param, TaskError, register
from tasks.shell_task import ShellTask

EXPRESSION = Param(str, pattern=r"\d+( [-+*/] \d+){1,5}")
KEY_IDS = {"+": "op_add", "-": "op_sub", "*": "op_mul", "/": "op_div"}
_NUMBER = re.compile(r"(?<![\d.])-?\d+(?:\.\d+)?(?!\.?\d)")


class BadExpression(TaskError, ValueError):
    """An expression with a division by zero or a token that is not a number or an operator."""


def evaluate(expression: str) -> Fraction:
    """The exact value of ``a op b op c …`` with ``*`` and ``/`` binding tighter than ``+`` and ``-``."""
    tokens = expression.split()
    terms: list[Fraction] = [Fraction(int(tokens[0]))]
    signs: list[int] = [1]
    for op, text in zip(tokens[1::2], tokens[2::2], strict=True):
        if not text.isdigit() or op not in KEY_IDS:
            raise BadExpression(f"cannot read {op!r} {text!r} in {expression!r}")
        value = Fraction(int(text))
        if op == "*":
            terms[-1] *= value
        elif op == "/":
            if value == 0:
                raise BadExpression(f"division by zero in {expression!r}")
            terms[-1] /= value
        else:
            terms.append(value)
            signs.append(1 if op == "+" else -1)
    return sum((s * t for s, t in zip(signs, terms, strict=True)), Fraction(0))


def number_matches(answer: str | None, value: Fraction) -> bool:
    """Whether ``answer`` holds exactly one number and it equals ``value`` (``-`` or ``−`` as minus)."""
    if answer is None:
        return False
    found = _NUMBER.findall(answer.replace("\u2212", "-").replace(",", ""))
    return len(found) == 1 and Fraction(found[0]) == value


def random_expression(rng: random.Random, operands: int, ops: str) -> str:
    """``operands`` numbers joined by operators from ``ops``; ``/`` only where it divides exactly."""
    parts = [str(rng.randint(2, 99))]
    running = Fraction(int(parts[0]))  # value of the current ×/÷ term
    for _ in range(operands - 1):
        op = rng.choice(ops)
        if op == "/":
            divisors = [d for d in range(2, 13) if running.denominator == 1 and running.numerator % d == 0]
            if not divisors:
                op = "*"
            else:
                d = rng.choice(divisors)
                parts += ["/", str(d)]
                running /= d
                continue
        n = rng.randint(2, 12) if op == "*" else rng.randint(2, 99)
        parts += [op, str(n)]
        running = running * n if op == "*" else Fraction(n)
    return " ".join(parts)


class _Compute(ShellTask):
    app: ClassVar[str] = "Calculator"
    sim_only = True
    information = True
    operands: ClassVar[tuple[int, int]]
    ops: ClassVar[str]
    answer_guesses = ("0", "1", "42", "100")
    params_schema = {"expression": EXPRESSION}
    phrasings = (
        "Use the calculator to work out {expression} and tell me the result.",
        "What is {expression}? Answer with the number.",
        "Calculate {expression} for me.",
    )

    @classmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        return {"expression": random_expression(rng, rng.randint(*cls.operands), cls.ops)}

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        value = evaluate(self.params["expression"])
        return str(value.numerator) if value.denominator == 1 else str(float(value))

    def judge(self, outputs: dict[str, str], episode: Episode) -> float:
        return float(number_matches(episode.answer, evaluate(self.params["expression"])))

    def oracle(self, device: AndroidDevice) -> Iterator[ou.Action | Answer]:
        yield from ou.open_app("Calculator")
        for token in self.params["expression"].split():
            for ch in [token] if token in KEY_IDS else token:
                yield from ou.tap(device, rid=KEY_IDS.get(ch, f"digit_{ch}"))
        yield from ou.tap(device, rid="eq")
        yield Answer(ou.node_text(device, "result") or "")


@register
class ComputeEasy(_Compute):
    name = "calculator.compute_easy"
    difficulty = "easy"
    max_steps = 12
    operands = (2, 2)
    ops = "+-*"


@register
class ComputeMedium(_Compute):
    name = "calculator.compute_medium"
    difficulty = "medium"
    max_steps = 18
    operands = (3, 3)
    ops = "+-*/"


@register
class ComputeHard(_Compute):
    name = "calculator.compute_hard"
    difficulty = "hard"
    max_steps = 25
    operands = (4, 5)
    ops = "+-*/"
