"""The loss pass of an update: samples into micro-batches, each micro-batch's log-probs and clipped loss.

A micro-batch's completion log-probs come by one of three paths, chosen in ``LossPass.stats`` alone:

- **kept prefill**: every sample was drawn from one sampling prefill that ran with gradients
  (``optim.reuse_prefill``; the first pass of an update only): only the completions run, against it
  (``shared_prefix.completion_pass``), and the prompt is not run again;
- **shared prefix**: two samples share a prompt: each distinct prompt runs once
  (``shared_prefix.shared_prefix_stats``);
- **plain**: one full row per sample, a shared prompt's images embedded once (``logprobs.completion_stats``).

The three give the same log-probs, loss and gradients to float rounding (tests/test_shared_prefix.py). The
kept prefills live here (``LossPass.kept``): the trainer's ``Policy`` fills it while sampling, the update
reads and then clears it; the engine keeps nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import torch

from gui_grpo.grpo.config import LossConfig
from gui_grpo.grpo.loss import loss_normalizer, policy_loss
from gui_grpo.policy.engine import prompt_digest
from gui_grpo.policy.logprobs import CompletionStats, completion_stats, encode_shared, right_aligned
from gui_grpo.policy.prompts import Prompt, PromptBuilder
from gui_grpo.policy.shared_prefix import (
    KeptPrefills,
    PrefixPass,
    SharedPrefixBatch,
    completion_pass,
    shared_prefix_stats,
)
from gui_grpo.train.samples import Sample, prompt_key, rebuild_prompt

KeptRows = tuple[PrefixPass, torch.Tensor]
"""A kept prefill and, per sample of a micro-batch, its prompt's row in it (b,)."""


class LossPass:
    """Micro-batching, encoding and the per-micro-batch loss of the policy update."""

    def __init__(
        self,
        model: Any,
        builder: PromptBuilder,
        loss_cfg: LossConfig,
        *,
        temperature: float,
        banned_ids: list[int],
        pad_id: int,
        micro_batch_tokens: int,
        keep_prefill: bool = False,
        share_prompts: bool = True,
    ) -> None:
        self.model, self.builder, self.loss_cfg = model, builder, loss_cfg
        self.temperature, self.banned_ids, self.pad_id = temperature, banned_ids, pad_id
        self.micro_batch_tokens = micro_batch_tokens
        self.share_prompts = share_prompts
        """Run a prompt shared by several samples of a micro-batch once; False forces the plain pass
        (benchmarks compare the two)."""
        self.constraint: Any = None
        """The sampler's ``ActionConstraint`` when rollouts were constrained: the loss then uses the log-probs
        of the constrained distribution (the same masks, replayed over each completion)."""
        self.kept: KeptPrefills | None = {} if keep_prefill else None
        """Sampling prefills run with gradients, by prompt digest, for the next update's first pass (None:
        prefills are not kept). Only exact where sampling and loss compute the same thing."""

    def micro_batches(self, samples: list[Sample]) -> list[list[Sample]]:
        """Micro-batches within the token budget, whole prompt groups together where they fit: samples that
        share a prompt sit side by side, and the prompt counts once per micro-batch it is in."""
        groups: dict[tuple, list[Sample]] = {}
        for s in samples:
            groups.setdefault(prompt_key(s.step), []).append(s)
        batches: list[list[Sample]] = [[]]
        used, in_batch = 0, set()  # tokens and prompt keys of the last micro-batch
        for key, members in groups.items():
            # The prompt's token count (image tokens included) when the rollout recorded it.
            prompt_cost = members[0].step.prompt_tokens or len(key[0]) // 3
            for s in members:
                cost = len(s.step.completion_ids) + (0 if key in in_batch else prompt_cost)
                if batches[-1] and used + cost > self.micro_batch_tokens:
                    batches.append([])
                    used, in_batch = 0, set()
                    cost = len(s.step.completion_ids) + prompt_cost
                batches[-1].append(s)
                used += cost
                in_batch.add(key)
        return [b for b in batches if b]

    def normalizer(self, chunk: list[Sample]) -> float:
        """The loss normaliser of one micro-batch (``grpo.loss.loss_normalizer``)."""
        lens = [len(s.step.completion_ids) for s in chunk]
        mask = right_aligned([[1.0] * n for n in lens], max(lens))  # (b, C)
        return float(loss_normalizer(mask, torch.tensor([s.weight for s in chunk]), self.loss_cfg))

    def backward(
        self, chunks: list[list[Sample]], scales: list[float], n: int, reuse_kept: bool
    ) -> dict[str, float]:
        """Loss and backward of every micro-batch (``loss * scale``; gradients add up); the metrics averaged
        over the ``n`` samples. ``reuse_kept``: micro-batches drawn from one kept prefill run against it."""
        plan = self._kept_plan(chunks) if reuse_kept else {}
        uses = Counter(id(k[0]) for k in plan.values())
        sums: dict[str, float] = {}
        for i, (chunk, scale) in enumerate(zip(chunks, scales, strict=True)):
            kept = plan.get(i)
            loss, m = self.micro_loss(chunk, kept)
            retain = False
            if kept is not None:  # a prefill shared by later micro-batches keeps its graph
                uses[id(kept[0])] -= 1
                retain = uses[id(kept[0])] > 0
            (loss * scale).backward(retain_graph=retain)
            for k, v in m.items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(chunk) / n
        return sums

    def drop_kept(self) -> None:
        """Forget the kept prefills (and free their graphs)."""
        if self.kept:
            self.kept.clear()

    def micro_loss(self, chunk: list[Sample], kept: KeptRows | None = None) -> tuple[torch.Tensor, dict]:
        """The clipped policy loss of one micro-batch (KL to the adapter-disabled model when beta > 0)."""
        stats = self.stats(chunk, kept)
        logp, mask, entropy = stats()  # (b, C) each
        old = right_aligned([s.step.logprobs for s in chunk], logp.shape[1]).to(logp.device)  # (b, C)
        adv = torch.tensor([s.advantage for s in chunk], device=logp.device)  # (b,)
        weights = torch.tensor([s.weight for s in chunk], device=logp.device)  # (b,)
        ref = None
        if self.loss_cfg.beta > 0:
            with torch.no_grad(), self.model.disable_adapter():
                ref = stats().logp
        loss, m = policy_loss(logp, old, adv, mask, self.loss_cfg, ref_logp=ref, step_weights=weights)
        ent = float((entropy * mask).sum() / mask.sum().clamp(min=1.0))
        return loss, {"loss": float(loss.detach()), "entropy": ent, **m}

    def stats(self, chunk: list[Sample], kept: KeptRows | None = None) -> Callable[[], CompletionStats]:
        """The completion stats of ``chunk`` under the model's current state, encoded once for the policy and
        the reference pass: against the kept prefill when given, shared-prefix when two samples share a
        prompt, else the plain pass."""
        comps = [s.step.completion_ids for s in chunk]
        temperature, banned = self.temperature, self.banned_ids
        shared = self.share_prompts and len({prompt_key(s.step) for s in chunk}) < len(chunk)
        allowed = self._allowed(chunk, right=kept is None and not shared)
        if kept is not None:
            prefix, rows = kept
            return lambda: completion_pass(
                self.model, prefix, rows, comps, self.pad_id, temperature, banned, allowed=allowed
            )
        if shared:
            batch = self.encode_prefix_batch(chunk)
            return lambda: shared_prefix_stats(self.model, batch, temperature, banned, allowed=allowed)
        encoded = self.encode_chunk(chunk)
        lens = [len(c) for c in comps]
        return lambda: completion_stats(self.model, encoded, lens, temperature, banned, allowed=allowed)

    def _allowed(self, chunk: list[Sample], right: bool) -> torch.Tensor | None:
        """The constrained sampler's masks over the chunk's completions (None when sampling was free),
        laid out as the pass that reads them: right-aligned for the plain pass, left-aligned for the
        prefix passes."""
        if self.constraint is None:
            return None
        comps = [s.step.completion_ids for s in chunk]
        bounds = [self.constraint.bounds(len(s.step.elements), s.step.model_image_size) for s in chunk]
        return self.constraint.token_masks(comps, bounds, max(len(c) for c in comps), right=right)

    def _kept_plan(self, chunks: list[list[Sample]]) -> dict[int, KeptRows]:
        """Micro-batches whose every sample was drawn from one kept prefill, with their rows in it."""
        if not self.kept:
            return {}
        digests: dict[tuple, str] = {}
        plan = {}
        for i, chunk in enumerate(chunks):
            found = []
            for s in chunk:
                key = prompt_key(s.step)
                if key not in digests:
                    digests[key] = prompt_digest(rebuild_prompt(s.step))
                found.append(self.kept.get(digests[key]))
            if all(found) and len({id(k.prefix) for k in found}) == 1:
                plan[i] = (found[0].prefix, torch.tensor([k.row for k in found]))
        return plan

    def encode_chunk(self, chunk: list[Sample]) -> dict[str, Any]:
        """The plain pass's rows, ``[prompt, completion]`` each; a shared prompt's images embedded once."""
        keys = [prompt_key(s.step) for s in chunk]
        decoded: dict[Any, Prompt] = {}
        for k, s in zip(keys, chunk, strict=True):
            if k not in decoded:
                decoded[k] = rebuild_prompt(s.step)
        prompts = [decoded[k] for k in keys]
        comps = [s.step.completion_ids for s in chunk]
        return encode_shared(self.builder, self.model, prompts, keys, comps)

    def encode_prefix_batch(self, chunk: list[Sample]) -> SharedPrefixBatch:
        """Each distinct prompt of ``chunk`` decoded and encoded once, with every sample's completion."""
        first: dict[tuple, int] = {}
        for i, s in enumerate(chunk):
            first.setdefault(prompt_key(s.step), i)
        slot = {k: u for u, k in enumerate(first)}
        prompts = self.builder.encode([rebuild_prompt(chunk[i].step) for i in first.values()])
        rows = torch.tensor([slot[prompt_key(s.step)] for s in chunk])  # (b,)
        return SharedPrefixBatch(prompts, rows, [s.step.completion_ids for s in chunk], self.pad_id)
