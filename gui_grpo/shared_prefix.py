"""Shared-prefix loss pass: each distinct prompt is run once, its completions against its KV cache.

The G samples of a group step (single-step and offline GRPO, the first step of every online group) share
one screenshot-heavy prompt. The plain loss pass runs G full copies ``[prompt, c_i]``; here the prompt runs
once, with gradients and ``use_cache=True``, and its per-layer keys and values, still attached to the
autograd graph, are gathered to one row per completion. A second forward runs only the completion tokens
against that cache. Backward then sums every completion's gradient into the one prompt pass, so LoRA on
the prompt tokens is trained exactly as in the plain pass (to float rounding; tested).

Why two forwards instead of one packed ``[prompt, c_1, …, c_G]`` with a block mask: the packed form needs a
4-D float mask, which rules out the causal fast path of SDPA and costs (P + G·C)² attention scores; here
the prompt runs under the plain causal mask (P²/2) and the completions cost G·C·(P + C).

Positions. A completion token's position continues from its prompt's last position, as the plain pass
computes it over the whole row: the prompt's positions come from the model's own ``get_rope_index``
(Qwen's 3-D multimodal rotary positions: temporal, height, width), the completion's are
``last + 1 + t`` on all three axes (text after the image is offset by the image's ``rope_deltas``, which
``last`` already carries). Models without ``get_rope_index`` get 1-D positions the same way.

Log-probs come back in the plain pass's layout: (B, C), each row right-aligned.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

from gui_grpo.logprobs import CompletionStats, completion_mask, token_stats


class SharedPrefixError(ValueError):
    """A shared-prefix batch is malformed (rows without completions, row indices out of range)."""


@dataclass
class SharedPrefixBatch:
    """Distinct prompts, encoded once, and the completions that follow them."""

    prompts: dict[str, torch.Tensor]
    """The processor's output for the U distinct prompts, left-padded: input_ids (U, P), pixels, …"""
    rows: torch.Tensor
    """(B,) index of each completion's prompt in ``prompts``."""
    completions: list[list[int]]
    """B completions (token ids)."""
    pad_id: int

    def __post_init__(self) -> None:
        num_prompts = int(self.prompts["input_ids"].shape[0])
        if len(self.completions) != len(self.rows):
            raise SharedPrefixError(f"{len(self.completions)} completions for {len(self.rows)} rows")
        if any(not c for c in self.completions):
            raise SharedPrefixError("every completion needs at least one token")
        if len(self.rows) and not 0 <= int(self.rows.min()) <= int(self.rows.max()) < num_prompts:
            raise SharedPrefixError(f"row indices {self.rows.tolist()} outside the {num_prompts} prompts")


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _cache_keyword(model: Any) -> str:
    params = inspect.signature(type(_base(model)).forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def prompt_positions(model: Any, prompts: dict[str, torch.Tensor]) -> torch.Tensor:
    """Position ids of left-padded prompts as the model itself computes them: (3, U, P) for Qwen's
    multimodal rotary positions, else (U, P). Padding positions are meaningless (masked)."""
    ids, mask = prompts["input_ids"], prompts["attention_mask"]  # (U, P) each
    inner = getattr(_base(model), "model", None)
    rope_index = getattr(inner, "get_rope_index", None)
    has_vision = prompts.get("image_grid_thw") is not None or prompts.get("video_grid_thw") is not None
    if rope_index is not None and "mm_token_type_ids" in prompts and has_vision:
        keys = ("image_grid_thw", "video_grid_thw", "second_per_grid_ts")
        extra = {k: prompts[k] for k in keys if prompts.get(k) is not None}
        pos, _ = rope_index(ids, mm_token_type_ids=prompts["mm_token_type_ids"], attention_mask=mask, **extra)
        return pos  # (3, U, P)
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)  # (U, P)
    return pos[None].expand(3, -1, -1) if rope_index is not None else pos


def _completion_inputs(
    batch: SharedPrefixBatch, last: torch.Tensor, prompt_mask: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs of the completion forward: every completion but its last token, left-aligned and
    right-padded (padding after a row's tokens is never attended to by them under the causal mask).

    ``last`` is (3, B) or (B,): each row's last prompt position. Returns ids (B, L-1), positions
    (3, B, L-1) or (B, L-1), and the attention mask (B, P + L-1) over cache and new tokens."""
    width = max(len(c) for c in batch.completions) - 1
    ids = torch.full((len(batch.completions), width), batch.pad_id, dtype=torch.long)  # (B, L-1)
    for i, c in enumerate(batch.completions):
        ids[i, : len(c) - 1] = torch.tensor(c[:-1], dtype=torch.long)
    steps = torch.arange(1, width + 1, device=device)  # (L-1,)
    positions = last[..., None] + steps  # (3, B, L-1) or (B, L-1)
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(len(batch.completions), width)], dim=1)
    return ids.to(device), positions, mask  # mask: (B, P + L-1)


def shared_prefix_stats(
    model: Any,
    batch: SharedPrefixBatch,
    temperature: float = 1.0,
    banned_ids: list[int] | None = None,
    entropy: bool = True,
) -> CompletionStats:
    """Log-probs, mask and entropy (each (B, C), rows right-aligned) of ``batch``'s completions, with each
    distinct prompt run once. Gradients flow through the prompt pass when the model has them."""
    device = next(model.parameters()).device
    prompts = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.prompts.items()}
    rows = batch.rows.to(device)  # (B,)
    pos = prompt_positions(model, prompts)  # (3, U, P) or (U, P)
    out = model(**prompts, position_ids=pos, use_cache=True, logits_to_keep=1)
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    first_logits = out.logits[:, -1:, :]  # (U, 1, V): predicts each completion's first token
    lens = [len(c) for c in batch.completions]
    targets = torch.zeros(len(lens), max(lens), dtype=torch.long)  # (B, L), left-aligned
    for i, c in enumerate(batch.completions):
        targets[i, : len(c)] = torch.tensor(c, dtype=torch.long)
    targets = targets.to(device)
    logp, ent = token_stats(first_logits[rows], targets[:, :1], temperature, banned_ids, entropy)  # (B, 1)
    if max(lens) > 1:
        cache.batch_select_indices(rows)  # (B, heads, P, d) per layer, still on the autograd graph
        last = pos[..., rows, -1]  # (3, B) or (B,): left padding puts every prompt's end in the last column
        ids, positions, mask = _completion_inputs(batch, last, prompts["attention_mask"][rows], device)
        step = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **{_cache_keyword(model): cache},
        )
        rest_logp, rest_ent = token_stats(step.logits, targets[:, 1:], temperature, banned_ids, entropy)
        logp = torch.cat([logp, rest_logp], dim=1)  # (B, L)
        ent = torch.cat([ent, rest_ent], dim=1)  # (B, L)
    return _right_aligned_stats(logp, ent, lens)


def _right_aligned_stats(logp: torch.Tensor, ent: torch.Tensor, lens: list[int]) -> CompletionStats:
    """Move left-aligned (B, L) rows to the right, as the plain pass lays them out."""
    width = logp.shape[1]
    shift = torch.tensor([width - n for n in lens], device=logp.device)[:, None]  # (B, 1)
    src = (torch.arange(width, device=logp.device)[None, :] - shift).clamp(min=0)  # (B, L)
    mask = completion_mask(lens, width, logp.device)  # (B, L)
    return CompletionStats(logp.gather(1, src) * mask, mask, ent.gather(1, src) * mask)

