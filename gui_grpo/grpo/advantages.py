"""Group-relative advantages, zero-std group detection, and credit from episodes to their steps.

A group is the G episodes played from the same start state. Each episode's advantage is its reward minus
its group's mean, optionally divided by a std. Every step of an episode then carries that advantage, weighted
1/T_i by default so that long failing episodes do not contribute more negative samples than short ones.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gui_grpo.grpo.config import ConfigError, GRPOInputError, StdScale


def group_advantages(
    rewards: Tensor, group_ids: Tensor, scale: StdScale = "group", eps: float = 1e-4
) -> Tensor:
    """A_i = (R_i - mean of i's group) / (std + eps), for rewards (N,) and group_ids (N,); returns (N,).

    ``scale``: ``group`` divides by the std of i's group (GRPO), ``batch`` by the std of all N rewards,
    ``none`` not at all (Dr. GRPO). Stds use Bessel's correction, as TRL does; a group of one has std 0 and
    advantage 0. Groups need not be contiguous or sorted.
    """
    if scale not in ("group", "batch", "none"):
        raise ConfigError(f"scale={scale!r} is not one of 'group', 'batch', 'none'")
    r = _flat_rewards(rewards, group_ids)                                         # (N,)
    inverse, counts = _group_index(group_ids)                                     # (N,), (K,)
    sums = torch.zeros(counts.numel(), dtype=r.dtype, device=r.device).index_add_(0, inverse, r)  # (K,)
    centered = r - (sums / counts)[inverse]                                       # (N,)
    if scale == "none":
        return centered
    if scale == "batch":
        std = r.std() if r.numel() > 1 else torch.zeros((), dtype=r.dtype, device=r.device)
        return centered / (std + eps)
    sq = torch.zeros_like(sums).index_add_(0, inverse, centered**2)              # (K,)
    std = (sq / (counts - 1).clamp(min=1)).sqrt()                                 # (K,)
    return centered / (std[inverse] + eps)


def zero_std_groups(rewards: Tensor, group_ids: Tensor, atol: float = 0.0) -> Tensor:
    """(N,) bool: True for samples whose group's rewards are all equal (within ``atol``).

    Such groups have all-zero advantages and teach nothing; DAPO drops them and samples more groups. The
    fraction of zero-std groups is ``zero_std_groups(...)`` taken at one sample per group.
    """
    r = _flat_rewards(rewards, group_ids)                                         # (N,)
    inverse, counts = _group_index(group_ids)                                     # (N,), (K,)
    k = counts.numel()
    hi = torch.full((k,), -torch.inf, dtype=r.dtype, device=r.device).scatter_reduce(0, inverse, r, "amax")
    lo = torch.full((k,), torch.inf, dtype=r.dtype, device=r.device).scatter_reduce(0, inverse, r, "amin")
    return ((hi - lo) <= atol)[inverse]                                           # (N,)


def broadcast_to_steps(episode_values: Tensor, lengths: Tensor) -> Tensor:
    """Repeat each episode's value for each of its steps: (E,) and lengths (E,) -> (S,), S = sum(lengths).

    Steps are laid out episode after episode, in episode order.
    """
    _check_lengths(episode_values, lengths)
    return episode_values.repeat_interleave(lengths)                              # (S,)


def step_advantages(
    episode_advantages: Tensor, lengths: Tensor, valid: Tensor, invalid_cap: float | None = None
) -> Tensor:
    """Each step's advantage (S,): its episode's (``broadcast_to_steps``), except that an invalid step's
    (``valid`` (S,) False) is at most ``invalid_cap``; None: no cap.

    An invalid output did nothing on the device, so it earns no share of its episode's success; carrying a
    winning episode's advantage, it would be reinforced.
    """
    adv = broadcast_to_steps(episode_advantages, lengths)                        # (S,)
    if valid.shape != adv.shape or valid.dtype != torch.bool:
        raise GRPOInputError(f"valid must be a bool (S,) with S = sum(lengths) = {adv.numel()}; "
                             f"got {valid.dtype} {tuple(valid.shape)}")
    if invalid_cap is None:
        return adv
    return torch.where(valid, adv, adv.clamp(max=invalid_cap))                   # (S,)


def step_weights(lengths: Tensor, inverse_length: bool = True) -> Tensor:
    """Per-step weights (S,): 1/T_i for each step of episode i (so each episode sums to 1), or all ones.

    With 1/T_i, a failing episode pushes down its actions with the same total weight whatever its length, so
    ending a failing episode early does not make it any less penalised per episode.
    """
    _check_lengths(lengths, lengths)
    per_episode = 1.0 / lengths.to(torch.get_default_dtype())                     # (E,)
    if not inverse_length:
        per_episode = torch.ones_like(per_episode)
    return per_episode.repeat_interleave(lengths)                                 # (S,)


def _flat_rewards(rewards: Tensor, group_ids: Tensor) -> Tensor:
    if rewards.dim() != 1 or group_ids.shape != rewards.shape:
        raise GRPOInputError(f"rewards and group_ids must both be (N,); got {tuple(rewards.shape)} "
                             f"and {tuple(group_ids.shape)}")
    return rewards if rewards.is_floating_point() else rewards.to(torch.get_default_dtype())


def _group_index(group_ids: Tensor) -> tuple[Tensor, Tensor]:
    """Each sample's group index in 0..K-1 (N,) and the size of each group (K,)."""
    _, inverse, counts = torch.unique(group_ids, return_inverse=True, return_counts=True)
    return inverse, counts


def _check_lengths(values: Tensor, lengths: Tensor) -> None:
    if values.dim() != 1 or lengths.shape != values.shape:
        raise GRPOInputError(f"episode values and lengths must both be (E,); got {tuple(values.shape)} "
                             f"and {tuple(lengths.shape)}")
    if lengths.is_floating_point() or bool((lengths < 1).any()):
        raise GRPOInputError(f"episode lengths must be integers >= 1 (an episode has at least one step); "
                             f"got {lengths.tolist()}")
