"""Training metrics: fixed names, one JSONL row per step, a progress bar, TensorBoard when installed.

Names logged every step (a name is absent only when its step had nothing to measure, e.g. no update):

- rollouts: ``reward_mean``, ``reward_std``, ``success_rate``, ``frac_reward_zero_std``,
  ``invalid_action_rate`` (per step taken), ``false_completion_rate`` (per episode: claimed success, checker
  said no), ``episode_length`` (steps), ``completion_length`` (tokens), ``lost_episodes``, and
  ``success/TEMPLATE`` for each template played that step; with replay on, ``replayed_episodes`` (stored
  successes added to failing groups) and ``replayed_share`` (of the samples learned from);
- the update: ``loss``, ``clip_frac_low``, ``clip_frac_high``, ``approx_kl`` (k3 of the update vs. the
  behaviour policy), ``entropy`` (of the policy at completion positions, nats per token), ``grad_norm``
  (before clipping), ``skipped_steps`` (cumulative count of updates dropped for a non-finite loss or
  gradient), ``lr``, ``samples`` (policy decisions learned from);
- time: ``rollout_s``, ``learn_s``, ``samples_per_s``; every row also carries ``time`` (Unix seconds when it
  was written) and ``elapsed_s`` (training seconds since the run began, continued across resumes).

TensorBoard event files go to ``RUN/tensorboard`` when the ``tensorboard`` extra is installed
(``pip install 'gui-grpo[tensorboard]'``; then ``tensorboard --logdir RUN``).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from gui_grpo.rollout.records import EpisodeResult

BAR_KEYS = {"reward": "reward_mean", "success": "success_rate", "invalid": "invalid_action_rate"}
LINE_KEYS = (
    "step",
    "reward_mean",
    "success_rate",
    "invalid_action_rate",
    "episode_length",
    "loss",
    "entropy",
    "eval_success_rate",
    "rollout_s",
    "learn_s",
)


def episode_metrics(results: list[EpisodeResult], rewards: list[float]) -> dict[str, float]:
    """Rollout metrics of one batch of episodes (lost episodes count only in ``lost_episodes``)."""
    kept = [(r, w) for r, w in zip(results, rewards, strict=True) if r.lost is None]
    n = max(1, len(kept))
    steps = [s for r, _ in kept for s in r.steps]
    rew = torch.tensor([w for _, w in kept] or [0.0])
    by_template: dict[str, list[bool]] = {}
    for r, _ in kept:
        by_template.setdefault(r.task, []).append(r.score >= 1.0)
    return {
        **{f"success/{name}": sum(wins) / len(wins) for name, wins in sorted(by_template.items())},
        "reward_mean": float(rew.mean()),
        "reward_std": float(rew.std(unbiased=False)),
        "success_rate": sum(r.score >= 1.0 for r, _ in kept) / n,
        "false_completion_rate": sum(r.claims_success and r.score < 1.0 for r, _ in kept) / n,
        "invalid_action_rate": sum(r.invalid_actions for r, _ in kept) / max(1, len(steps)),
        "episode_length": len(steps) / n,
        "completion_length": sum(len(s.completion_ids) for s in steps) / max(1, len(steps)),
        "lost_episodes": float(len(results) - len(kept)),
    }


def format_row(row: dict[str, Any]) -> str:
    """One human line of the most telling metrics."""
    return "  ".join(
        f"{k}={row[k]:.3g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in LINE_KEYS if k in row
    )


def _tensorboard(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        print(
            "metrics: TensorBoard is not installed, metrics go to metrics.jsonl only "
            "(pip install 'gui-grpo[tensorboard]' for event files)",
            file=sys.stderr,
        )
        return None
    return SummaryWriter(str(log_dir))


def _last_elapsed(path: Path) -> float:
    """``elapsed_s`` of the last row of an existing log (a resumed run continues its clock), else 0."""
    if not path.is_file():
        return 0.0
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        return float(json.loads(lines[-1]).get("elapsed_s", 0.0)) if lines else 0.0
    except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
        return 0.0  # a torn last line (killed mid-write) or an old log without the field


class MetricsLog:
    """Appends rows to ``metrics.jsonl``, mirrors numbers to TensorBoard, and drives the progress bar."""

    def __init__(
        self, run_dir: Path, total_steps: int, start_step: int = 0, progress_bar: bool = True
    ) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / "metrics.jsonl"
        self.elapsed_before = _last_elapsed(self.path)
        self.opened = time.monotonic()
        self.file = open(self.path, "a")  # noqa: SIM115 - closed in close()
        self.tb = _tensorboard(run_dir / "tensorboard")
        self.bar = None
        if progress_bar:
            from tqdm import tqdm

            self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", file=sys.stderr)

    def write(self, row: dict[str, Any]) -> None:
        """Append ``row``, stamped in place with ``time`` and ``elapsed_s``."""
        elapsed = self.elapsed_before + time.monotonic() - self.opened
        row.update(time=round(time.time(), 3), elapsed_s=round(elapsed, 3))
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()
        step = int(row["step"])
        if self.tb is not None:
            for k, v in row.items():
                if isinstance(v, int | float) and k not in ("step", "time"):
                    self.tb.add_scalar(k, v, step)
        if self.bar is None:
            print(format_row(row), flush=True)
            return
        self.bar.set_postfix({k: f"{row[v]:.3f}" for k, v in BAR_KEYS.items() if v in row}, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> MetricsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

