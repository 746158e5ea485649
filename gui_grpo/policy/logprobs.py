"""Per-token log-probabilities of completions under the current policy, at completion positions only.

Rows are left-padded so every row ends with its completion; ``logits_to_keep`` then asks the model for
the logits of the last ``max_completion + 1`` positions only, never the full-vocabulary logits over the
(long, screenshot-heavy) prompt.

``encode_shared`` builds the loss batch for rows that repeat a prompt (the G samples of one group step):
each distinct prompt is tokenised once and its screenshots go through the frozen vision tower once, under
no_grad; the rows then carry the precomputed image features (``mm_encoder_outputs``) instead of G copies
of the pixels. When rows share a prompt, ``gui_grpo.policy.shared_prefix`` goes further and runs the prompt
itself once; both passes turn logits into log-probs and entropy with ``token_stats``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

if TYPE_CHECKING:
    from gui_grpo.policy.prompts import Prompt, PromptBuilder

# Families whose forward takes precomputed image features as ``mm_encoder_outputs`` with nothing but a
# pooled output per image (Qwen3-VL also needs its deepstack features, so it takes the plain path).
SHARED_VISION_FAMILIES = ("qwen2_vl", "qwen2_5_vl")


class CompletionStats(NamedTuple):
    logp: torch.Tensor
    """(B, C) log-probs of the completion tokens (with grad when the model has it)."""
    mask: torch.Tensor
    """(B, C) 1 at completion tokens."""
    entropy: torch.Tensor
    """(B, C) entropy of the policy at each completion position, in nats, no grad."""


def completion_stats(
    model: Any,
    batch: dict[str, torch.Tensor],
    completion_lens: list[int],
    temperature: float = 1.0,
    banned_ids: list[int] | None = None,
    allowed: torch.Tensor | None = None,
) -> CompletionStats:
    """``completion_logprobs`` plus the policy's entropy at the same positions, from the same logits.

    ``allowed``: (B, C, V) bool, right-aligned like the completions: the tokens a constrained sampler
    admitted at each position (``policy.grammar``); the others are excluded before the softmax."""
    return _completion_pass(model, batch, completion_lens, temperature, banned_ids, entropy=True,
                            allowed=allowed)


def completion_logprobs(
    model: Any,
    batch: dict[str, torch.Tensor],
    completion_lens: list[int],
    temperature: float = 1.0,
    banned_ids: list[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs (B, C) of each row's completion tokens and their mask (B, C), C = max completion length.

    Completion tokens are right-aligned: row i's tokens sit in the last ``completion_lens[i]`` columns.
    ``banned_ids`` are the tokens the engine never samples; excluding them here too keeps these
    log-probs those of the distribution actually sampled.
    """
    stats = _completion_pass(model, batch, completion_lens, temperature, banned_ids, entropy=False)
    return stats.logp, stats.mask


def _completion_pass(
    model: Any,
    batch: dict[str, torch.Tensor],
    completion_lens: list[int],
    temperature: float,
    banned_ids: list[int] | None,
    entropy: bool,
    allowed: torch.Tensor | None = None,
) -> CompletionStats:
    width = max(completion_lens)
    device = next(model.parameters()).device
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    out = model(**inputs, use_cache=False, logits_to_keep=width + 1)
    # Position t predicts token t+1: the last kept position predicts nothing.
    targets = inputs["input_ids"][:, -width:]  # (B, C)
    logits = out.logits[:, :-1, :]  # (B, C, V)
    logp, ent = token_stats(logits, targets, temperature, banned_ids, entropy, allowed)  # (B, C) each
    return CompletionStats(logp, completion_mask(completion_lens, width, device), ent)


def token_stats(
    logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 1.0,
    banned_ids: list[int] | None = None,
    entropy: bool = True,
    allowed: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log-probs of ``targets``, entropy), each (B, T), from next-token logits (B, T, V) under the sampled
    distribution: temperature applied, ``banned_ids`` excluded, and where ``allowed`` (B, T, V bool) is
    given only its tokens kept. Entropy is zeros when not asked for."""
    scaled = logits.float()  # (B, T, V); no copy when already fp32
    if temperature != 1.0 or banned_ids or allowed is not None:
        scaled = scaled / temperature  # a copy, so the banned ids may be written in place
        if banned_ids:
            scaled[..., banned_ids] = float("-inf")
        if allowed is not None:
            scaled = scaled.masked_fill(~allowed.to(scaled.device), float("-inf"))
    logp_all = torch.log_softmax(scaled, dim=-1)  # (B, T, V)
    logp = logp_all.gather(2, targets[..., None])[..., 0]  # (B, T)
    if not entropy:
        return logp, torch.zeros_like(logp)
    with torch.no_grad():
        ent = torch.special.entr(logp_all.exp()).sum(dim=-1)  # (B, T); entr(0) = 0 at banned ids
    return logp, ent


def completion_mask(
    completion_lens: list[int], width: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(B, width): 1 at the last ``completion_lens[i]`` columns of row i (right-aligned completions)."""
    cols = torch.arange(width, device=device)[None, :]  # (1, C)
    lens = torch.tensor(completion_lens, device=device)[:, None]  # (B, 1)
    return (cols >= width - lens).float()  # (B, C)


def right_aligned(values: list[list[float]], width: int) -> torch.Tensor:
    """Stack ragged rows into (B, width), each row right-aligned and left-padded with zeros."""
    out = torch.zeros(len(values), width)
    for i, row in enumerate(values):
        if row:
            out[i, width - len(row) :] = torch.tensor(row)
    return out


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def can_share_vision(model: Any) -> bool:
    """Whether image features may be computed once per distinct image: a frozen vision tower of a family
    whose forward takes them precomputed."""
    base = _base(model)
    visual = getattr(getattr(base, "model", None), "visual", None)
    family = getattr(base.config, "model_type", "")
    return (
        visual is not None
        and family in SHARED_VISION_FAMILIES
        and not any(p.requires_grad for p in visual.parameters())
    )


def encode_shared(
    builder: PromptBuilder,
    model: Any,
    prompts: list[Prompt],
    keys: list[Hashable],
    completions: list[list[int]],
) -> dict[str, Any]:
    """The loss batch for rows ``prompts`` + ``completions`` where rows with equal ``keys`` have the same
    prompt: each distinct prompt is encoded, and its images embedded, once. Falls back to encoding every
    row when the vision tower trains or the family cannot take precomputed features."""
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    from gui_grpo.policy.prompts import append_completions

    if not can_share_vision(model):
        return builder.encode(prompts, completions=completions)
    first: dict[Hashable, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    unique = [prompts[i] for i in first.values()]
    slot = {k: u for u, k in enumerate(first)}
    row_u = torch.tensor([slot[k] for k in keys])  # (B,) index of each row's distinct prompt
    enc = builder.encode(unique)
    counts = [len(p.images) for p in unique]
    offsets = [sum(counts[:u]) for u in range(len(unique))]
    device = next(model.parameters()).device
    with torch.no_grad():
        out = _base(model).model.get_image_features(
            enc["pixel_values"].to(device), enc["image_grid_thw"].to(device), return_dict=True
        )
    per_image = list(out.pooler_output)  # one (tokens, hidden) tensor per distinct image
    images = [offsets[u] + j for u in row_u.tolist() for j in range(counts[u])]
    rows = {k: v[row_u] for k, v in enc.items() if k in ("input_ids", "attention_mask", "mm_token_type_ids")}
    rows["image_grid_thw"] = enc["image_grid_thw"][images]  # (images of all rows, 3)
    batch = append_completions(rows, completions, builder.processor.tokenizer.pad_token_id)
    batch["mm_encoder_outputs"] = {
        "image": BaseModelOutputWithPooling(pooler_output=[per_image[i] for i in images])
    }
    for p, i in zip(prompts, row_u.tolist(), strict=True):
        p.model_image_size = unique[i].model_image_size
    return batch
