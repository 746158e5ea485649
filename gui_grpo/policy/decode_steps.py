"""One decode step of ``HFEngine``'s loop: feed the chosen tokens, get the next logits.

``DynamicSteps`` decodes through ``model.forward`` and the prefill's growing cache (any model);
``StaticSteps`` through ``fast_decode.StepDecoder`` (Qwen VL models), each prompt's cache held once.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from gui_grpo.policy.fast_decode import PrefixCache, StepDecoder, prefill_kv


class DecodeSteps(Protocol):
    """Feeds each step's chosen tokens (A,) to the model and returns the next logits (A, V)."""

    def select(self, rows: torch.Tensor) -> None: ...

    def __call__(self, chosen: torch.Tensor, t: int) -> torch.Tensor: ...


class DynamicSteps:
    """Decode through ``model.forward`` and the prefill's growing ``DynamicCache`` (any model)."""

    def __init__(
        self, model: Any, cache_kw: str, cache: Any, mask: torch.Tensor, offset: torch.Tensor, mrope: bool
    ) -> None:
        self.model, self.cache_kw, self.cache = model, cache_kw, cache
        self.mask, self.offset, self.mrope = mask, offset, mrope

    def select(self, rows: torch.Tensor) -> None:
        self.cache.batch_select_indices(rows)
        self.mask, self.offset = self.mask[rows], self.offset[rows]

    def __call__(self, chosen: torch.Tensor, t: int) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(chosen), 1)], dim=1)  # (A, L + t + 1)
        pos = (self.offset + t).view(1, -1, 1)  # (1, A, 1)
        position_ids = pos.expand(3, -1, -1) if self.mrope else pos[0]  # (3, A, 1) or (A, 1)
        step = self.model(
            input_ids=chosen[:, None],
            attention_mask=self.mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_kw: self.cache},
        )
        return step.logits[:, -1, :]  # (A, V)


class StaticSteps:
    """Decode through ``StepDecoder`` (Qwen VL models): rows in a grid of prompts × slots, each prompt's
    cache held once (``fast_decode.PrefixCache``); finished rows stay in the grid, unread."""

    def __init__(
        self,
        decoder: StepDecoder,
        cache: Any,
        counts: list[int],
        prompt_mask: torch.Tensor,
        offset: torch.Tensor,
        new: int,
    ) -> None:
        keys, values = prefill_kv(cache)
        n = max(counts)
        key_mask = None if bool(prompt_mask.all()) else prompt_mask.bool()
        self.decoder = decoder
        self.cache = PrefixCache(keys, values, n, new, key_mask)
        self.proj = decoder.projections()
        device = offset.device
        self.slots = torch.tensor([u * n + j for u, c in enumerate(counts) for j in range(c)], device=device)
        self.offset = torch.zeros(len(counts) * n, dtype=offset.dtype, device=device)  # (U·n,)
        self.offset[self.slots] = offset
        self.tokens = torch.zeros(len(counts) * n, dtype=torch.long, device=device)  # (U·n,)
        steps = torch.arange(new, device=device)  # every decode step's positions, one rotary call
        like = keys[0][:1, :1, :1, :1]
        self.cos, self.sin = decoder.rope(self.offset[:, None] + steps, like)  # (U·n, new, d) each

    def select(self, rows: torch.Tensor) -> None:
        self.slots = self.slots[rows]

    def __call__(self, chosen: torch.Tensor, t: int) -> torch.Tensor:
        self.tokens[self.slots] = chosen
        rope = (self.cos[:, t], self.sin[:, t])
        logits = self.decoder(self.tokens, rope, self.cache, self.proj)  # (U·n, V)
        return logits[self.slots]  # (A, V)
