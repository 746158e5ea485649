"""``tasks verify``: evidence that each template is solvable, not free, and not guessable.

Per template and seed, on a fresh device each time: the oracle (must succeed), a do-nothing agent that
claims success at once (must fail), each of the template's ``answer_guesses`` for information tasks
(should fail), and a random agent (taps, swipes and keys for ``max_steps``). Oracle steps count every
action the oracle emitted, the final ``terminate`` / ``answer`` included.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from emulators.device import AndroidDevice
from emulators.errors import DeviceError
from tasks.base import Task, TaskError
from tasks.runner import run_do_nothing, run_guess, run_oracle, run_random

DeviceFactory = Callable[[], AndroidDevice]


@dataclass
class TemplateReport:
    name: str
    app: str
    difficulty: str
    information: bool
    seeds: int = 0
    oracle_success: float = 0.0
    do_nothing_success: float = 0.0
    guess_success: float | None = None
    random_success: float = 0.0
    mean_oracle_steps: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Oracle always succeeds and doing nothing never does."""
        return self.oracle_success == 1.0 and self.do_nothing_success == 0.0 and not self.errors

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def verify_template(cls: type[Task], make_device: DeviceFactory, seeds: list[int]) -> TemplateReport:
    """Run the four agents of this module on ``cls`` for each seed."""
    report = TemplateReport(cls.name, cls.app, cls.difficulty, cls.information, seeds=len(seeds))
    oracle, nothing, guesses, rand, steps = [], [], [], [], []
    for seed in seeds:
        task = cls.sample(seed)
        try:
            outcome = run_oracle(task, make_device())
            oracle.append(outcome.score)
            steps.append(outcome.episode.steps)
            if outcome.score < 1.0:
                report.errors.append(f"seed {seed}: oracle scored {outcome.score}")
            nothing.append(run_do_nothing(task, make_device()).score)
            for guess in cls.answer_guesses:
                guesses.append(run_guess(task, make_device(), guess).score)
            rng = random.Random(f"random-agent:{cls.name}:{seed}")
            rand.append(run_random(task, make_device(), rng).score)
        except (TaskError, DeviceError) as e:
            oracle.append(0.0)
            report.errors.append(f"seed {seed}: {type(e).__name__}: {e}")
    report.oracle_success = _mean(oracle)
    report.do_nothing_success = _mean(nothing)
    report.guess_success = _mean(guesses) if cls.information else None
    report.random_success = _mean(rand)
    report.mean_oracle_steps = _mean([float(s) for s in steps])
    return report


def format_table(reports: list[TemplateReport]) -> str:
    """A fixed-width table, one line per template."""
    head = (
        f"{'template':34} {'app':9} {'diff':6} {'oracle':>6} {'none':>5} {'guess':>5} {'random':>6} "
        f"{'steps':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in reports:
        guess = "-" if r.guess_success is None else f"{r.guess_success:.0%}"
        mark = "" if r.ok else "  FAIL"
        lines.append(
            f"{r.name:34} {r.app:9} {r.difficulty:6} {r.oracle_success:6.0%} {r.do_nothing_success:5.0%} "
            f"{guess:>5} {r.random_success:6.0%} {r.mean_oracle_steps:5.1f}{mark}"
        )
    return "\n".join(lines)
