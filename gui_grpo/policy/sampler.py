"""Per-row seeded sampling: a sample depends only on its seed, never on which rows share the batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor


class SeededSampler(LogitsProcessor):
    """Samples each row from its own generator and records the token's log-prob under temperature.

    A row's token is drawn by inverse transform: one uniform u from the row's generator, and the first
    token whose cumulative probability (float64) exceeds u times the total. That is exact categorical
    sampling with one random number per row, and the rows share one ``cumsum`` and ``searchsorted``
    instead of a ``multinomial`` call each. Banned tokens have probability 0 and are never drawn.
    """

    def __init__(
        self,
        seeds: list[int] | None,
        temperature: float,
        greedy: bool,
        banned: list[int] | None = None,
        constraint: Any = None,
        bounds: Sequence[Any] = (),
    ) -> None:
        self.constraint = constraint
        """An ``ActionConstraint`` (``policy.grammar``): its mask applies before the softmax, so the
        recorded log-probs are those of the constrained distribution."""
        self.matchers = constraint.open(bounds) if constraint is not None else []
        """This batch's grammar state, one matcher per ``bounds`` entry (row)."""
        self.greedy = greedy
        self.banned = banned or []
        self._banned: torch.Tensor | None = None
        self.temperature = temperature
        self.generators = None
        if not greedy:
            if seeds is None:
                raise ValueError("sampling needs one seed per row (or greedy=True)")
            self.generators = [torch.Generator().manual_seed(int(s) % (2**63)) for s in seeds]
        self.chosen: list[torch.Tensor] = []  # per step (B,)
        self.logprobs: list[torch.Tensor] = []  # per step (B,)

    def draw(
        self, scores: torch.Tensor, rows: Sequence[int] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, log-probs), each (B,), for scores (B, V); ``rows`` names each row's generator."""
        logits = scores.float()  # (B, V)
        if self.banned:
            if self._banned is None or self._banned.device != logits.device:
                self._banned = torch.tensor(self.banned, device=logits.device)
            logits.index_fill_(1, self._banned, float("-inf"))
        if self.constraint is not None:
            rows = range(logits.shape[0]) if rows is None else rows
            allowed = self.constraint.allowed(self.matchers, list(rows)).to(logits.device)  # (B, V)
            logits.masked_fill_(~allowed, float("-inf"))
        logp = torch.log_softmax(logits / self.temperature, dim=-1)  # (B, V)
        if self.greedy:
            tokens = logits.argmax(dim=-1)  # (B,)
        else:
            rows = range(logits.shape[0]) if rows is None else rows
            u = torch.cat([torch.rand(1, dtype=torch.float64, generator=self.generators[r]) for r in rows])
            cdf = logp.double().exp().cumsum(dim=-1)  # (B, V)
            target = (u.to(cdf.device) * cdf[:, -1])[:, None]  # (B, 1), in [0, total)
            tokens = torch.searchsorted(cdf, target, right=True)[:, 0].clamp_(max=cdf.shape[1] - 1)  # (B,)
        if self.constraint is not None:
            self.constraint.advance(self.matchers, list(rows), tokens.tolist())
        return tokens, logp.gather(1, tokens[:, None])[:, 0]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        tokens, logps = self.draw(scores)
        self.chosen.append(tokens)
        self.logprobs.append(logps)
        forced = torch.full_like(scores, float("-inf"))
        forced.scatter_(1, tokens[:, None], 0.0)
        return forced
