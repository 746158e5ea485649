"""Episodes into samples: rewards per episode, group advantages, one weighted sample per policy decision."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import torch
from PIL import Image

from gui_grpo.grpo.advantages import group_advantages, step_advantages, step_weights, zero_std_groups
from gui_grpo.grpo.config import LossConfig, RewardConfig
from gui_grpo.grpo.rewards import episode_reward
from gui_grpo.policy.prompts import Prompt
from gui_grpo.rollout.records import EpisodeResult, Step


@dataclass
class Sample:
    """One policy decision to learn from."""

    step: Step
    advantage: float
    weight: float
    replayed: bool = False
    """From a stored success replayed into a later group (``gui_grpo.train.replay``)."""


def rebuild_prompt(step: Step) -> Prompt:
    """The prompt a step was sampled from, with its images decoded from the stored PNGs."""
    images = [Image.open(BytesIO(b)).convert("RGB") for b in step.images_png]
    return Prompt(step.prompt_text, images, step.screen_size)


def prompt_key(step: Step) -> tuple[str, tuple[bytes, ...]]:
    """Steps with equal keys were sampled from the same prompt (text and screenshots)."""
    return step.prompt_text, tuple(step.images_png)


def score_episodes(results: list[EpisodeResult], reward_cfg: RewardConfig) -> list[float]:
    """Each episode's reward: checker score, penalties and shaping as ``reward_cfg`` says."""
    rewards = []
    for r in results:
        value, _ = episode_reward(
            r.score,
            claimed_status="success" if r.claims_success else r.claimed_status,
            ended_by_task=r.end_reason == "task_done",
            invalid_actions=r.invalid_actions,
            steps=max(1, len(r.steps)),
            progress_start=r.progress_start,
            progress_end=r.progress_end,
            side_effects=len(r.side_effects),
            cfg=reward_cfg,
        )
        rewards.append(value)
    return rewards


def make_samples(
    results: list[EpisodeResult], rewards: list[float], loss_cfg: LossConfig, reward_cfg: RewardConfig
) -> tuple[list[Sample], dict[str, float]]:
    """Group advantages per episode, spread over its steps (weight 1/T_i when configured); an invalid step
    carries at most ``reward_cfg.invalid_step_advantage``."""
    group_ids = torch.tensor([r.group for r in results])  # (N,)
    rew = torch.tensor(rewards, dtype=torch.float32)  # (N,)
    adv = group_advantages(rew, group_ids, scale=loss_cfg.scale_std)  # (N,)
    zero = zero_std_groups(rew, group_ids)  # (N,) bool
    zero_groups = {g for g, z in zip(group_ids.tolist(), zero.tolist(), strict=True) if z}
    stats = {"frac_reward_zero_std": len(zero_groups) / max(1, len(set(group_ids.tolist())))}
    solved = {r.group for r in results if r.lost is None and r.score >= 1.0}
    stats["frac_failed_groups"] = 1.0 - len(solved) / max(1, len(set(group_ids.tolist())))
    if reward_cfg.progress_shaping:  # a failed group whose members got unequally far still teaches
        progress: dict[int, set[float]] = {}
        for r in results:
            if r.lost is None:
                progress.setdefault(r.group, set()).add(round(r.progress_end, 6))
        solved |= {g for g, ends in progress.items() if len(ends) > 1}
    kept = [
        (r, a)
        for r, a, z in zip(results, adv.tolist(), zero.tolist(), strict=True)
        if r.steps
        and r.lost is None
        and not (loss_cfg.drop_zero_std_groups and z)
        and not (loss_cfg.drop_failed_groups and r.group not in solved)
    ]
    if not kept:
        return [], stats
    steps = [s for r, _ in kept for s in r.steps]
    lengths = torch.tensor([len(r.steps) for r, _ in kept])  # (E,)
    step_adv = step_advantages(
        torch.tensor([a for _, a in kept]), lengths, torch.tensor([s.valid for s in steps]),
        reward_cfg.invalid_step_advantage,
    )  # (S,)
    weights = step_weights(lengths, reward_cfg.inverse_length_weighting)  # (S,)
    replayed = [r.replayed for r, _ in kept for _ in r.steps]
    samples = [
        Sample(s, a, w, p)
        for s, a, w, p in zip(steps, step_adv.tolist(), weights.tolist(), replayed, strict=True)
    ]
    return samples, stats
