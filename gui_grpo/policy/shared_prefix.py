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

from gui_grpo.policy.fast_decode import completion_logits, decoder_for, last_layer_keys_only, prefill_kv
from gui_grpo.policy.logprobs import CompletionStats, completion_mask, token_stats


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
    completions: list[list[int]], pad_id: int, last: torch.Tensor, prompt_mask: torch.Tensor,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs of the completion forward: every completion but its last token, left-aligned and
    right-padded (padding after a row's tokens is never attended to by them under the causal mask).

    ``last`` is (3, B) or (B,): each row's last prompt position. Returns ids (B, L-1), positions
    (3, B, L-1) or (B, L-1), and the attention mask (B, P + L-1) over cache and new tokens."""
    width = max(len(c) for c in completions) - 1
    ids = torch.full((len(completions), width), pad_id, dtype=torch.long)  # (B, L-1)
    for i, c in enumerate(completions):
        ids[i, : len(c) - 1] = torch.tensor(c[:-1], dtype=torch.long)
    steps = torch.arange(1, width + 1, device=device)  # (L-1,)
    positions = last[..., None] + steps  # (3, B, L-1) or (B, L-1)
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(len(completions), width)], dim=1)
    return ids.to(device), positions, mask  # mask: (B, P + L-1)


@dataclass
class PrefixPass:
    """The forward pass of U distinct prompts: per-layer KV cache (on the autograd graph when the model
    has gradients), the logits that predict each completion's first token, and the prompts' positions."""

    cache: Any
    first_logits: torch.Tensor
    """(U, 1, V)"""
    positions: torch.Tensor
    """(3, U, P) or (U, P)"""
    attention_mask: torch.Tensor
    """(U, P)"""


@dataclass
class KeptPrefix:
    """A prompt's prefill, run with gradients during sampling: row ``row`` of ``prefix``."""

    prefix: PrefixPass
    row: int


KeptPrefills = dict[str, KeptPrefix]
"""Sampling prefills kept for the loss pass, by ``prompt_digest`` (filled by ``HFEngine.sample(keep=)``)."""


def prefix_pass(model: Any, prompts: dict[str, torch.Tensor]) -> PrefixPass:
    """Run the encoded prompts once with ``use_cache=True`` (with gradients when enabled)."""
    device = next(model.parameters()).device
    prompts = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in prompts.items()}
    pos = prompt_positions(model, prompts)  # (3, U, P) or (U, P)
    with last_layer_keys_only(model):  # only the last position's logits are kept
        out = model(**prompts, position_ids=pos, use_cache=True, logits_to_keep=1)
    cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
    return PrefixPass(cache, out.logits[:, -1:, :], pos, prompts["attention_mask"])


def completion_pass(
    model: Any,
    prefix: PrefixPass,
    rows: torch.Tensor,
    completions: list[list[int]],
    pad_id: int,
    temperature: float = 1.0,
    banned_ids: list[int] | None = None,
    entropy: bool = True,
    allowed: torch.Tensor | None = None,
) -> CompletionStats:
    """Log-probs, mask and entropy (each (B, C), rows right-aligned) of ``completions``, completion i
    following prompt ``rows[i]`` of ``prefix``. The prefix's cache is gathered, not changed in place.
    ``allowed``: (B, L, V) bool, left-aligned, the tokens a constrained sampler admitted (see
    ``logprobs.token_stats``)."""
    device = prefix.first_logits.device
    rows = rows.to(device)  # (B,)
    lens = [len(c) for c in completions]
    targets = torch.zeros(len(lens), max(lens), dtype=torch.long)  # (B, L), left-aligned
    for i, c in enumerate(completions):
        targets[i, : len(c)] = torch.tensor(c, dtype=torch.long)
    targets = targets.to(device)
    first = None if allowed is None else allowed[:, :1]
    first_logits = prefix.first_logits[rows]
    logp, ent = token_stats(first_logits, targets[:, :1], temperature, banned_ids, entropy, first)
    if max(lens) > 1:
        last = prefix.positions[..., rows, -1]  # (3, B) or (B,): left padding puts all ends last
        prompt_mask = prefix.attention_mask[rows]
        ids, positions, mask = _completion_inputs(completions, pad_id, last, prompt_mask, device)
        decoder = decoder_for(model)
        if decoder is not None and positions.dim() == 3:  # Qwen VL: completions against the prompts' KV
            keys, values = prefill_kv(prefix.cache)
            pos = positions[0]  # (B, L-1): text positions agree on all three axes
            logits = completion_logits(decoder, keys, values, prefix.attention_mask, rows, ids, pos)
        else:
            cache = gathered_cache(prefix.cache, rows)  # (B, heads, P, d) per layer, on the autograd graph
            step = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                **{_cache_keyword(model): cache},
            )
            logits = step.logits
        rest = None if allowed is None else allowed[:, 1:]
        rest_logp, rest_ent = token_stats(logits, targets[:, 1:], temperature, banned_ids, entropy, rest)
        logp = torch.cat([logp, rest_logp], dim=1)  # (B, L)
        ent = torch.cat([ent, rest_ent], dim=1)  # (B, L)
    return _right_aligned_stats(logp, ent, lens)


def gathered_cache(cache: Any, rows: torch.Tensor) -> Any:
    """A new ``DynamicCache`` holding ``rows`` of ``cache`` (which stays as it is, for other uses)."""
    from transformers import DynamicCache

    keys, values = prefill_kv(cache)
    out = DynamicCache()
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        out.update(k[rows], v[rows], i)
    return out


def shared_prefix_stats(
    model: Any,
    batch: SharedPrefixBatch,
    temperature: float = 1.0,
    banned_ids: list[int] | None = None,
    entropy: bool = True,
    allowed: torch.Tensor | None = None,
) -> CompletionStats:
    """Log-probs, mask and entropy (each (B, C), rows right-aligned) of ``batch``'s completions, with each
    distinct prompt run once. Gradients flow through the prompt pass when the model has them.
    ``allowed``: as ``completion_pass`` takes it (left-aligned)."""
    prefix = prefix_pass(model, batch.prompts)
    return completion_pass(
        model, prefix, batch.rows, batch.completions, batch.pad_id, temperature, banned_ids, entropy, allowed
    )


def _right_aligned_stats(logp: torch.Tensor, ent: torch.Tensor, lens: list[int]) -> CompletionStats:
    """Move left-aligned (B, L) rows to the right, as the plain pass lays them out."""
    width = logp.shape[1]
    shift = torch.tensor([width - n for n in lens], device=logp.device)[:, None]  # (B, 1)
    src = (torch.arange(width, device=logp.device)[None, :] - shift).clamp(min=0)  # (B, L)
    mask = completion_mask(lens, width, logp.device)  # (B, L)
    return CompletionStats(logp.gather(1, src) * mask, mask, ent.gather(1, src) * mask)

