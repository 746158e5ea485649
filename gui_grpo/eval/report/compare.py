"""Comparing two evaluations: per template and per app, the success rates of A and B and the difference
B − A with a 95% interval (Newcombe's hybrid score interval, built from the two Wilson intervals; it
stays inside [-1, 1] and behaves at 0% and 100%, unlike the Wald interval)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gui_grpo.eval.evaluate import wilson_interval


def newcombe_interval(k_a: int, n_a: int, k_b: int, n_b: int) -> tuple[float, float]:
    """95% interval for p_b − p_a (Newcombe 1998, method 10); (-1, 1) when either side has no trials."""
    if n_a <= 0 or n_b <= 0:
        return -1.0, 1.0
    p_a, p_b = k_a / n_a, k_b / n_b
    lo_a, hi_a = wilson_interval(k_a, n_a)
    lo_b, hi_b = wilson_interval(k_b, n_b)
    d = p_b - p_a
    lower = d - math.sqrt((p_b - lo_b) ** 2 + (hi_a - p_a) ** 2)
    upper = d + math.sqrt((hi_b - p_b) ** 2 + (p_a - lo_a) ** 2)
    return max(-1.0, lower), min(1.0, upper)


@dataclass(frozen=True)
class Difference:
    """One row of a comparison: a template, an app or ``overall``."""

    group: str  # "overall", "template" or "app"
    name: str
    a: dict[str, Any] | None  # the rates() row of run A, None when A never played it
    b: dict[str, Any] | None
    diff: float | None  # success_rate(B) − success_rate(A)
    ci95: tuple[float, float] | None

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.ci95 is not None and (self.ci95[0] > 0 or self.ci95[1] < 0)


def _difference(group: str, name: str, a: dict | None, b: dict | None) -> Difference:
    if not a or not b or not a["scored"] or not b["scored"]:
        return Difference(group, name, a, b, None, None)
    diff = b["success_rate"] - a["success_rate"]
    return Difference(group, name, a, b, diff, newcombe_interval(a["successes"], a["scored"],
                                                                  b["successes"], b["scored"]))


def compare_summaries(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """Overall, then per template, then per app (names from either run, sorted)."""
    rows = [_difference("overall", "overall", a["overall"], b["overall"])]
    for group, key in (("template", "by_template"), ("app", "by_app")):
        names = sorted(set(a.get(key, {})) | set(b.get(key, {})))
        rows += [_difference(group, n, a.get(key, {}).get(n), b.get(key, {}).get(n)) for n in names]
    return rows


def setting_differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings that differ between two evaluations (model, adapter, suite, decoding, prompt...)."""
    keys = ("model", "adapter", "suite", "split", "seed", "decoding", "temperature", "max_steps",
            "observation", "action_format", "family", "devices", "code_version")
    return {k: (a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)}
