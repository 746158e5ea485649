"""A template curriculum for online GRPO: spend rollouts where groups still disagree.

A group whose episodes all succeed (or all fail) has zero advantages and teaches nothing. With a success
probability p, a group of G has a non-zero reward spread with probability 1 - p^G - (1-p)^G, which is
largest at p = 1/2; ``p (1 - p)`` is a smooth stand-in. Each template's p is a running mean of its recent
episodes (unseen templates start at 1/2), and templates are drawn with weight ``max(p (1 - p), floor)`` so
mastered and hopeless templates still come up now and then.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gui_grpo.rollout.records import EpisodeResult


class TemplateCurriculum:
    """Running success rate per template, and the sampling weights derived from it."""

    def __init__(self, decay: float = 0.7, floor: float = 0.02) -> None:
        if not 0.0 <= decay < 1.0 or not 0.0 < floor <= 0.25:
            raise ValueError("curriculum needs 0 <= decay < 1 and 0 < floor <= 0.25")
        self.decay = decay
        self.floor = floor
        self.success: dict[str, float] = {}

    def weights(self) -> dict[str, float]:
        """Sampling weight per template seen so far (templates not listed weigh 1, as 1/2 would)."""
        return {name: max(p * (1.0 - p), self.floor) / 0.25 for name, p in self.success.items()}

    def update(self, results: Iterable[EpisodeResult]) -> None:
        """Fold one batch of finished episodes (lost ones excluded) into the running rates."""
        batch: dict[str, list[float]] = {}
        for r in results:
            if r.lost is None:
                batch.setdefault(r.task, []).append(1.0 if r.score >= 1.0 else 0.0)
        for name, wins in batch.items():
            rate = sum(wins) / len(wins)
            old = self.success.get(name, 0.5)
            self.success[name] = self.decay * old + (1.0 - self.decay) * rate

    def state_dict(self) -> dict[str, Any]:
        return {"success": dict(self.success)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.success = {str(k): float(v) for k, v in state.get("success", {}).items()}
