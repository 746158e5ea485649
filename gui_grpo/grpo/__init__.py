"""GRPO math: the policy loss and its presets, group advantages, credit to steps, and episode rewards."""

from gui_grpo.grpo.advantages import (
    broadcast_to_steps,
    group_advantages,
    step_advantages,
    step_weights,
    zero_std_groups,
)
from gui_grpo.grpo.config import (
    PRESETS,
    ConfigError,
    GRPOInputError,
    LossConfig,
    RewardConfig,
    preset,
)
from gui_grpo.grpo.loss import loss_normalizer, policy_loss
from gui_grpo.grpo.rewards import episode_reward, potential_shaping

__all__ = [
    "PRESETS",
    "ConfigError",
    "GRPOInputError",
    "LossConfig",
    "RewardConfig",
    "broadcast_to_steps",
    "episode_reward",
    "group_advantages",
    "loss_normalizer",
    "policy_loss",
    "potential_shaping",
    "preset",
    "step_advantages",
    "step_weights",
    "zero_std_groups",
]
