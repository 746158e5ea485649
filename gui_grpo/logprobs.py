"""Per-token log-probabilities of completions under the current policy, at completion positions only.

Rows are left-padded so every row ends with its completion; ``logits_to_keep`` then asks the model for
the logits of the last ``max_completion + 1`` positions only, never the full-vocabulary logits over the
(long, screenshot-heavy) prompt.
"""

from __future__ import annotations

from typing import Any

import torch


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
    width = max(completion_lens)
    device = next(model.parameters()).device
    inputs = {k: v.to(device) for k, v in batch.items()}
    out = model(**inputs, use_cache=False, logits_to_keep=width + 1)
    logits = out.logits[:, :-1, :].float() / temperature  # (B, C, V): position t predicts token t+1
    if banned_ids:
        logits[..., banned_ids] = float("-inf")
    targets = inputs["input_ids"][:, -width:]  # (B, C)
    logp = torch.log_softmax(logits, dim=-1).gather(2, targets[..., None])[..., 0]  # (B, C)
    cols = torch.arange(width, device=device)[None, :]  # (1, C)
    lens = torch.tensor(completion_lens, device=device)[:, None]  # (B, 1)
    mask = (cols >= width - lens).to(logp.dtype)  # (B, C)
    return logp, mask


def right_aligned(values: list[list[float]], width: int) -> torch.Tensor:
    """Stack ragged rows into (B, width), each row right-aligned and left-padded with zeros."""
    out = torch.zeros(len(values), width)
    for i, row in enumerate(values):
        if row:
            out[i, width - len(row) :] = torch.tensor(row)
    return out
