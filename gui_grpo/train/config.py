"""The training run's configuration: one dataclass per component, each field documented once.

``TrainConfig`` nests ``RolloutConfig`` (devices, groups, sampling), ``OptimConfig`` (optimizer, schedule,
micro-batches), ``AdapterConfig`` (LoRA or full fine-tune), ``LossSection`` (a ``grpo.preset`` name and
overrides), ``RewardConfig`` and ``PromptConfig``. A config is read from YAML or JSON with ``load_config``
(nested mappings, unknown keys named), changed with dotted overrides (``rollout.group_size=8``), and saved
with every run and checkpoint as JSON. Every check raises ``ConfigError`` with a message saying how to fix
the value.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from gui_grpo.grpo.config import ConfigError, LossConfig, PresetName, RewardConfig, preset
from gui_grpo.policy.model import AdapterConfig
from gui_grpo.policy.prompts import PromptConfig

log = logging.getLogger(__name__)

__all__ = [
    "AdapterConfig",
    "ConfigError",
    "LossSection",
    "OptimConfig",
    "RolloutConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "load_config",
]


@dataclass
class RolloutConfig:
    """Where and how episodes are played."""

    devices: str = "sim:1"
    """Device spec for rollouts; online training forks each group from one device, so only sim:N works."""
    sim_resolution: str = "small"
    """PhoneSim screen preset (``small``, ``default``, ...) or WxH."""
    groups_per_step: int = 2
    """B: task instances per step (offline: dataset records per step)."""
    group_size: int = 4
    """G: episodes (offline: completions) per task instance, all from the same start state."""
    temperature: float = 1.0
    """Sampling temperature; the loss recomputes log-probs at the same temperature."""
    max_new_tokens: int = 64
    """Longest completion per step."""
    max_steps: int | None = None
    """Cap on steps per episode; None uses each task's own max_steps."""
    curriculum: bool = False
    """Draw templates by weight p(1-p) of their running success (``gui_grpo.train.curriculum``) instead of
    round-robin, so rollouts go where groups still disagree."""
    curriculum_floor: float = 0.02
    """The curriculum's smallest weight, as p(1-p) (at most 0.25): how often a template at 0 % or 100 %
    still comes up; 0.25 is round-robin."""
    constrained: bool = False
    """Sample training rollouts under the json action grammar (``gui_grpo.policy.grammar``, xgrammar): a
    higher ``temperature`` then explores actions and targets, never the syntax; the loss uses the
    constrained distribution's log-probs. Needs ``prompt.action_format`` json and ``max_new_tokens`` above
    the grammar's longest action. Greedy evaluation stays unconstrained."""
    instance_pool: int = 0
    """Draw each template's training instances from a fixed pool of this many train-split parameter seeds
    (0: a fresh instance every time), so an instance comes back and a stored success can be replayed."""
    replay_successes: bool = False
    """A group in which no member succeeded takes the latest successful episode of the same instance, when
    one is stored (``gui_grpo.train.replay``; needs ``instance_pool``)."""
    workers: int = 0
    """Ray rollout workers (0: play in the learner's process); each owns a share of ``devices`` and an
    inference replica (``gui_grpo.train.ray_workers``, needs the ``ray`` extra)."""
    worker_cpus: int = 1
    """CPUs each rollout worker asks Ray for (also its torch threads)."""
    worker_gpus: float = 0.0
    """GPUs each rollout worker asks Ray for (fractions share a GPU); > 0 puts its replica on the GPU."""
    worker_timeout_s: float = 600.0
    """Longest wait for a worker's groups (or its start, or a weight sync) before it counts as lost."""
    ray_address: str | None = None
    """Ray cluster to join (e.g. ``auto`` or ``HOST:6379``); None starts a local one."""

    def __post_init__(self) -> None:
        self._check_workers()
        if self.group_size < 2:
            raise ConfigError(
                f"rollout.group_size={self.group_size}: advantages compare episodes within a group; use >= 2"
            )
        if self.groups_per_step < 1:
            raise ConfigError(f"rollout.groups_per_step={self.groups_per_step}: use >= 1")
        if self.temperature <= 0:
            raise ConfigError(f"rollout.temperature={self.temperature}: training samples need > 0, e.g. 1.0")
        if self.max_new_tokens < 1:
            raise ConfigError(f"rollout.max_new_tokens={self.max_new_tokens}: use >= 1, e.g. 64")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError("rollout.max_steps must be >= 1, or null for each task's own cap")
        if not 0.0 < self.curriculum_floor <= 0.25:
            raise ConfigError(f"rollout.curriculum_floor={self.curriculum_floor}: use a value in (0, 0.25]")
        if self.instance_pool < 0:
            raise ConfigError(f"rollout.instance_pool={self.instance_pool}: use >= 0 (0: no pool)")
        if self.replay_successes and not self.instance_pool:
            raise ConfigError(
                "rollout.replay_successes replays a success of the same instance, so instances must come "
                "back: set rollout.instance_pool too, e.g. 32"
            )

    def _check_workers(self) -> None:
        if self.workers < 0 or self.worker_cpus < 1 or self.worker_gpus < 0 or self.worker_timeout_s <= 0:
            raise ConfigError(
                "rollout.workers must be >= 0, worker_cpus >= 1, worker_gpus >= 0 and worker_timeout_s > 0"
            )
        if self.workers > 0:
            from emulators.errors import BadDeviceSpec
            from emulators.specs import parse_device_spec

            try:
                count = parse_device_spec(self.devices).count
            except BadDeviceSpec as e:
                raise ConfigError(str(e).splitlines()[0]) from e
            if count < self.workers:
                raise ConfigError(
                    f"rollout.workers={self.workers} split rollout.devices={self.devices} between them: give "
                    f"each worker a device, e.g. devices sim:{self.workers}"
                )


@dataclass
class OptimConfig:
    """Optimizer, schedule and how a batch is split and reused."""

    lr: float = 1e-4
    lr_schedule: Literal["constant", "cosine"] = "constant"
    warmup_steps: int = 0
    """Linear warm-up from lr / warmup_steps to lr."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    """Gradients are clipped to this global norm; the pre-clip norm is logged as grad_norm."""
    passes: int = 1
    """Optimisation passes over each batch, reusing the rollout log-probs as the behaviour policy."""
    micro_batch_tokens: int = 16384
    """Token budget of one forward/backward micro-batch (prompt + completion tokens summed)."""
    reuse_prefill: bool = False
    """Keep the sampling prefill of every prompt sampled more than once (single-step and offline groups,
    the first turn of online groups) on the autograd graph, and let the first optimisation pass reuse it
    instead of running those prompts again: same loss and gradients, one prompt forward fewer. Holds those
    prompts' activations from sampling to the update; used only when the loss has no KL term (beta 0) and
    the LoRA no dropout, where the sampled and the trained distributions are the same computation."""

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"optim.lr={self.lr}: use a positive learning rate, e.g. 1e-4")
        if self.warmup_steps < 0 or self.weight_decay < 0:
            raise ConfigError("optim.warmup_steps and optim.weight_decay must be >= 0")
        if not self.max_grad_norm > 0:
            raise ConfigError(f"optim.max_grad_norm={self.max_grad_norm}: use > 0, e.g. 1.0")
        if self.passes < 1:
            raise ConfigError(f"optim.passes={self.passes}: use >= 1")
        if self.micro_batch_tokens < 1:
            raise ConfigError(f"optim.micro_batch_tokens={self.micro_batch_tokens}: use >= 1, e.g. 16384")


@dataclass
class LossSection:
    """The policy loss: a preset of ``gui_grpo.grpo.preset`` plus fields of ``LossConfig`` to override."""

    preset: PresetName = "grpo"
    """grpo, dr_grpo, dapo or gspo."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """e.g. {"beta": 0.04}. dr_grpo's constant_normalizer defaults to group_size x max_new_tokens."""

    @staticmethod
    def misplaced_key_hint(unknown: list[str], where: str) -> str | None:
        """For keys that are ``LossConfig`` fields written directly under loss: where they go instead."""
        if not set(unknown) <= {f.name for f in dataclasses.fields(LossConfig)}:
            return None
        key = unknown[0]
        return (
            f"{where}{key} is a field of the loss preset: set it under {where}overrides, "
            f"e.g. --set {where}overrides.{key}=VALUE or, in YAML, loss: {{overrides: {{{key}: VALUE}}}}"
        )

    def build(self, rollout: RolloutConfig) -> LossConfig:
        overrides = dict(self.overrides)
        if self.preset == "dr_grpo":
            overrides.setdefault("constant_normalizer", rollout.group_size * rollout.max_new_tokens)
        return preset(self.preset, **overrides)


@dataclass
class TrainConfig:
    """One training run; saved as config.json in the run directory and in every checkpoint."""

    model: str
    """Path of the base checkpoint (a real Qwen VL checkpoint or one made by `gui-grpo init-model`)."""
    out: str = "runs/quickstart"
    """Run directory: config.json, metrics.jsonl, checkpoints/, final/."""
    adapter: str | None = None
    """An existing adapter to start from (e.g. a supervised warm start); merged into the base under LoRA."""
    suite: str = "smoke"
    """Task suite to train on (`gui-grpo tasks list`)."""
    offline: str | None = None
    """A JSONL dataset (docs/OFFLINE_FORMAT.md): offline step-level GRPO on it instead of online rollouts."""
    offline_eval: str | None = None
    """Offline only: a held-out JSONL dataset for the greedy exact-match rate every ``eval_every`` steps."""
    steps: int = 20
    """Optimizer steps (each on a fresh batch of groups)."""
    max_minutes: float | None = None
    """Wall-clock budget: stop after the step that passes it (checkpointed, and ``final/`` written)."""
    seed: int = 0
    eval_every: int = 0
    """Evaluate greedily on held-out instances every N steps (0: never)."""
    eval_instances: int = 8
    save_every: int = 50
    """Write a checkpoint every N steps (0: only the final one), so that a crash loses at most N steps."""
    keep_checkpoints: int = 2
    """How many of the most recent checkpoints to keep (the newest good one is never deleted)."""
    dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    progress_bar: bool = True
    """A tqdm bar on stderr (step, reward, success, invalid-action rate); off prints one line per step."""
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    lora: AdapterConfig = field(default_factory=AdapterConfig)
    loss: LossSection = field(default_factory=LossSection)
    reward: RewardConfig = field(default_factory=RewardConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ConfigError(f"steps={self.steps}: use >= 1")
        for name in ("eval_every", "save_every", "eval_instances"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0 (0 turns it off)")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints={self.keep_checkpoints}: keep at least 1")
        self.loss_config()  # checks the preset and its overrides now, not at the first step

    def loss_config(self) -> LossConfig:
        return self.loss.build(self.rollout)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return load_config(path)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """A ``TrainConfig`` from a YAML or JSON file, with dotted ``overrides`` applied on top."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML/JSON: {e}".splitlines()[0]) from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of config fields, got {type(data).__name__}")
    return config_from_dict(apply_overrides(data, overrides or {}))


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with ``{"optim.lr": 3e-5, ...}`` set at their dotted paths."""
    out = json.loads(json.dumps(data))
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"cannot set {dotted}: {part} is not a section")
            node = child
        node[leaf] = value
    return out


RENAMED_KEYS = {("rollout", "max_steps_per_episode"): "max_steps"}
"""Keys of earlier releases, read under their new name (configs saved in older runs and checkpoints)."""


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and validate a ``TrainConfig`` from nested plain data (as read from YAML/JSON)."""
    return _build(TrainConfig, _renamed(data), "")


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for (section, old), new in RENAMED_KEYS.items():
        part = out.get(section)
        if isinstance(part, dict) and old in part:
            if new in part:
                raise ConfigError(f"{section}.{old} is the old name of {section}.{new}: give only {new}")
            log.warning("config: %s.%s is now called %s.%s", section, old, section, new)
            out[section] = {(new if k == old else k): v for k, v in part.items()}
    return out


def _build(cls: type, data: Any, where: str) -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping of fields, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        hint = getattr(cls, "misplaced_key_hint", None)
        raise ConfigError(
            (hint(unknown, where) if hint else None)
            or f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
            f"known keys{' of ' + where.rstrip('.') if where else ''}: {', '.join(names)}"
        )
    kwargs = {k: _coerce(hints[k], v, where + k) for k, v in data.items()}
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs and _required(f)]
    if missing:
        raise ConfigError(f"missing config key(s) {', '.join(where + m for m in missing)}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where.rstrip('.') or 'config'}: {e}") from e


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(hint: Any, value: Any, name: str) -> Any:  # noqa: C901 - one branch per kind of type
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name + ".")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, name)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0])
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(repr, args))}; pick one")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} must be a list, got {value!r}")
        return tuple(_coerce(args[0], v, name) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}={value!r} must be a whole number")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 3e-5 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name}={value!r} must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}={value!r} must be a string")
        return value
    return value
