"""Configuration of the GRPO policy loss and of episode rewards, and the loss presets.

One dataclass per component; each field is documented once, here. ``__post_init__`` checks the fields
together and says how to fix a bad combination. Change a field with ``dataclasses.replace``, which checks
again.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

RatioLevel = Literal["token", "sequence"]
Aggregation = Literal["sequence_mean", "token_mean", "constant"]
StdScale = Literal["group", "batch", "none"]
PresetName = Literal["grpo", "dr_grpo", "dapo", "gspo"]


class ConfigError(ValueError):
    """A GRPO loss or reward setting is invalid; the message says how to fix it."""


class GRPOInputError(ValueError):
    """Tensors or episode facts handed to the loss, advantages or rewards do not fit together."""


def _check_choice(name: str, value: object, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}; pick one")


@dataclass(frozen=True)
class LossConfig:
    """The clipped policy loss: three knobs (ratio level, clip range, aggregation), KL, advantage options."""

    ratio_level: RatioLevel = "token"
    """``token``: one importance ratio pi/pi_old per token (PPO, GRPO, DAPO). ``sequence``: one per
    completion, the geometric mean of its token ratios, exp(mean_t log(pi/pi_old)) (GSPO)."""
    eps_low: float = 0.2
    """The ratio is clipped below at 1 - eps_low; in [0, 1)."""
    eps_high: float = 0.2
    """The ratio is clipped above at 1 + eps_high; > 0. DAPO's clip-higher uses 0.28."""
    aggregation: Aggregation = "sequence_mean"
    """How per-token losses become one number. ``sequence_mean``: mean over each completion's tokens, then
    a (weighted) mean over completions (GRPO paper). ``token_mean``: (weighted) mean over all tokens of the
    batch (DAPO). ``constant``: (weighted) sum over all tokens divided by ``constant_normalizer``
    (Dr. GRPO)."""
    constant_normalizer: int | None = None
    """Divisor for ``aggregation="constant"``, fixed for the whole run: the number of completions per batch
    times the maximum completion length, e.g. G x max_completion_len. With 1/T_i step weights, count
    episodes, not steps. Only valid with ``constant`` aggregation."""
    beta: float = 0.0
    """Coefficient of the k3 KL estimate to the reference policy, added per token. 0 turns it off (recent TRL,
    DAPO, Dr. GRPO); the GRPO paper used 0.04."""
    scale_std: StdScale = "group"
    """Advantage scaling after subtracting the group mean: divide by the group's reward std (GRPO), by the
    batch's reward std, or not at all (Dr. GRPO)."""
    drop_zero_std_groups: bool = False
    """Drop (or resample) groups whose rewards are all equal: their advantages are all zero (DAPO)."""
    drop_failed_groups: bool = False
    """Drop groups in which no member succeeded (checker score < 1 for all) and, with progress shaping on,
    every member ended with the same progress: their spread is penalties only, which on a template the
    policy cannot yet solve pushes it away from whatever it tried, including the moves other templates
    need (DAPO's dynamic sampling drops 0 %-accuracy groups too). A group that took a replayed success, or
    whose members got unequally far, is kept."""
    importance_sampling_cap: float | None = None
    """Truncated importance-sampling correction for a sampling engine (e.g. vLLM) that disagrees numerically
    with the trainer: each loss term is weighted by min(pi_old / pi_engine, cap), at ``ratio_level``.
    None: off. Like TRL's ``vllm_importance_sampling_cap``; 2.0 is a usual value."""

    def __post_init__(self) -> None:
        _check_choice("ratio_level", self.ratio_level, RatioLevel)
        _check_choice("aggregation", self.aggregation, Aggregation)
        _check_choice("scale_std", self.scale_std, StdScale)
        if not 0.0 <= self.eps_low < 1.0:
            raise ConfigError(f"eps_low={self.eps_low} must be in [0, 1) so 1 - eps_low > 0; use e.g. 0.2")
        if not self.eps_high > 0.0:
            raise ConfigError(f"eps_high={self.eps_high} must be > 0; use e.g. 0.2 (0.28 for DAPO)")
        normalizer = self.constant_normalizer
        if self.aggregation == "constant" and (normalizer is None or normalizer < 1):
            raise ConfigError(
                f"aggregation='constant' needs constant_normalizer >= 1 (got {self.constant_normalizer}): "
                "set it to G x max_completion_len, e.g. preset('dr_grpo', constant_normalizer=8 * 256)"
            )
        if self.aggregation != "constant" and self.constant_normalizer is not None:
            raise ConfigError(
                f"constant_normalizer={self.constant_normalizer} is only used with aggregation='constant' "
                f"(got {self.aggregation!r}): drop constant_normalizer or set aggregation='constant'"
            )
        if self.beta < 0.0:
            raise ConfigError(f"beta={self.beta} must be >= 0; 0 turns the KL term off")
        if self.importance_sampling_cap is not None and self.importance_sampling_cap < 1.0:
            raise ConfigError(
                f"importance_sampling_cap={self.importance_sampling_cap} must be >= 1 (weights below 1 are "
                "never truncated); use e.g. 2.0, or None to turn the correction off"
            )


_PRESETS: dict[str, dict[str, Any]] = {
    "grpo": dict(
        ratio_level="token", eps_low=0.2, eps_high=0.2, aggregation="sequence_mean", scale_std="group",
    ),
    "dr_grpo": dict(ratio_level="token", eps_low=0.2, eps_high=0.2, aggregation="constant", scale_std="none"),
    "dapo": dict(
        ratio_level="token", eps_low=0.2, eps_high=0.28, aggregation="token_mean", scale_std="group",
        drop_zero_std_groups=True,
    ),
    "gspo": dict(
        ratio_level="sequence", eps_low=3e-4, eps_high=4e-4, aggregation="sequence_mean", scale_std="group",
    ),
}
PRESETS: tuple[str, ...] = tuple(_PRESETS)


def preset(name: PresetName, **overrides: Any) -> LossConfig:
    """The loss configuration of a named variant, with ``overrides`` applied.

    ``dr_grpo`` needs ``constant_normalizer`` (G x max_completion_len of the run), which no preset can know.
    """
    if name not in _PRESETS:
        raise ConfigError(f"unknown loss preset {name!r}; choose one of {', '.join(PRESETS)}")
    known = {f.name for f in fields(LossConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(
            f"unknown LossConfig field(s) {', '.join(unknown)}; fields are {', '.join(sorted(known))}"
        )
    return LossConfig(**{**_PRESETS[name], **overrides})


@dataclass(frozen=True)
class RewardConfig:
    """How an episode's reward is built from the checker's score and the episode's facts (see ``rewards``)."""

    invalid_action_penalty: float = 0.1
    """Subtracted per invalid action: unparseable output, unknown action, point off the screen."""
    false_completion_penalty: float = 0.5
    """Subtracted when the agent claimed the task done (``terminate`` success, or an ``answer``) and the
    checker scored below 1."""
    unfinished_penalty: float = 0.2
    """Subtracted when the agent never ended the episode (no ``terminate``, no ``answer``: it ran out of steps
    or was stopped for invalid outputs). Without it, never ending is a free way around the false-completion
    penalty, and GRPO learned to keep tapping until the step limit instead of ending a finished task."""
    progress_shaping: bool = False
    """Add potential-based shaping progress_coef x (Phi(end) - Phi(start)), Phi = task progress in [0, 1]."""
    progress_coef: float = 0.2
    """Weight of the progress shaping; used only when ``progress_shaping`` is on."""
    side_effect_penalty: float = 0.0
    """Subtracted per side effect the task's checks find (state the task did not ask to change). 0: off."""
    step_cost: float = 0.0
    """Subtracted per step taken. 0: off. Any step cost favours shorter failures over longer ones."""
    penalty_cap: float = 0.5
    """The invalid-action, unfinished, side-effect and step-cost penalties together never exceed this, so that
    with progress_coef + penalty_cap < 1 a successful episode always outscores a failed one from the same
    start."""
    inverse_length_weighting: bool = True
    """Weight each step of an episode of T steps by 1/T, so every episode carries the same total weight."""
    invalid_step_advantage: float | None = -1.0
    """An invalid step's advantage is at most this, whatever its episode's: the output did nothing on the
    device, so it earns no share of a success (carrying a winning episode's advantage, GRPO reinforced the
    invalid outputs inside successful episodes). None: every step carries its episode's advantage."""

    def __post_init__(self) -> None:
        for name in ("invalid_action_penalty", "false_completion_penalty", "unfinished_penalty",
                     "progress_coef", "side_effect_penalty", "step_cost", "penalty_cap"):
            if getattr(self, name) < 0.0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0; penalties are subtracted")
        if self.progress_shaping and self.progress_coef == 0.0:
            raise ConfigError("progress_shaping is on but progress_coef is 0: set progress_coef > 0 "
                              "(e.g. 0.2) or progress_shaping=False")
        if self.invalid_step_advantage is not None and self.invalid_step_advantage > 0.0:
            raise ConfigError(f"invalid_step_advantage={self.invalid_step_advantage} must be <= 0 (or None): "
                              "a positive value would reinforce invalid outputs")
        shaping = self.progress_coef if self.progress_shaping else 0.0
        if shaping + self.penalty_cap >= 1.0:
            raise ConfigError(
                f"progress_coef ({shaping}) + penalty_cap ({self.penalty_cap}) must be < 1, or a failed "
                "episode could outscore a successful one; lower progress_coef or penalty_cap"
            )
