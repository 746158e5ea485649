"""The training run's configuration: one dataclass, each field documented once, saved with every run."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gui_grpo.prompts import PromptConfig


@dataclass
class TrainConfig:
    model: str
    """Path of the base checkpoint (a real Qwen VL checkpoint or one made by `gui-grpo init-model`)."""
    out: str = "runs/quickstart"
    """Run directory: config.json, metrics.jsonl, checkpoints/."""
    adapter: str | None = None
    """An existing adapter to start from (e.g. a supervised warm start)."""
    suite: str = "smoke"
    """Task suite to train on (`gui-grpo tasks list`)."""
    devices: str = "sim:1"
    """Device spec for rollouts; only sim:N can fork a group from one device."""
    sim_resolution: str = "small"
    steps: int = 20
    """Optimizer steps (each on a fresh batch of groups)."""
    groups_per_step: int = 2
    """B: task instances per step."""
    group_size: int = 4
    """G: episodes per task instance, all from the same start state."""
    loss: str = "grpo"
    """Loss preset: grpo, dr_grpo, dapo or gspo."""
    loss_overrides: dict[str, Any] = field(default_factory=dict)
    """Fields of LossConfig to override on top of the preset (e.g. {"beta": 0.04})."""
    reward_overrides: dict[str, Any] = field(default_factory=dict)
    """Fields of RewardConfig to override."""
    passes: int = 1
    """Optimisation passes over each batch, reusing the rollout log-probs as the behaviour policy."""
    lr: float = 1e-4
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    micro_batch_tokens: int = 16384
    """Token budget of one forward/backward micro-batch (prompt + completion tokens summed)."""
    lora_r: int = 16
    lora_alpha: int = 32
    full_finetune: bool = False
    """Train every language-model weight instead of a LoRA (for tiny models trained from scratch)."""
    temperature: float = 1.0
    max_new_tokens: int = 64
    max_steps_per_episode: int | None = None
    """Cap on steps per episode; None uses each task's own max_steps."""
    prompt: PromptConfig = field(default_factory=PromptConfig)
    seed: int = 0
    eval_every: int = 0
    """Evaluate greedily on held-out instances every N steps (0: never)."""
    eval_instances: int = 8
    save_every: int = 0
    """Write a checkpoint every N steps (0: only at the end)."""
    dtype: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        if isinstance(self.prompt, dict):
            self.prompt = PromptConfig(**self.prompt)
        if self.group_size < 2:
            raise ValueError("group_size must be >= 2: advantages compare episodes within a group")
        if self.steps < 1 or self.groups_per_step < 1 or self.passes < 1:
            raise ValueError("steps, groups_per_step and passes must be >= 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 for training rollouts")
        if self.lr <= 0:
            raise ValueError("lr must be > 0")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown config fields {unknown}; known: {sorted(known)}")
        return cls(**data)
