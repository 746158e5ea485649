"""Episode rewards: the checker's score plus penalties and optional potential-based progress shaping.

    reward = score                                               checker, in [0, 1]
           + coef * (Phi(end) - Phi(start))                      optional progress shaping, Phi in [0, 1]
           - min(penalty_cap, invalid + unfinished               format, never-ended, side-effect
                             + side effects + steps)             and step penalties
           - false_completion                                    claimed done, checker < 1

Why a policy cannot game it:

- Toggling state back and forth earns nothing. Shaping depends only on the potential at the start and at the
  end of the episode (potential-based, Ng et al. 1999): summed step by step it telescopes,
  sum_t (Phi_{t+1} - Phi_t) = Phi(end) - Phi(start), so a round trip (switch on, switch off) contributes 0,
  and reaching a state twice is worth no more than reaching it once.
- Terminating early gains nothing. There is no per-step positive reward to collect or to stop collecting,
  and a successful episode always outscores a failed one from the same start (GRPO only compares episodes
  of a group), however short the failure and however long the success: the success gets at least
  1 - penalty_cap - progress_coef more, and ``RewardConfig`` requires progress_coef + penalty_cap < 1.
  Claiming success early costs the false-completion penalty, and so does quitting with an ``answer``:
  an answer claims the task done as ``terminate(success)`` does (callers pass ``claimed_status="success"``
  for it; ``EpisodeResult.claims_success``), else answering would be a free way out of a hard task.
  On the gradient side, each step of an episode of T steps is weighted 1/T (``advantages.step_weights``),
  so a failed episode's total push-down is the same whether it lasted 2 steps or 20; without it, long
  failures would contribute more negative samples and push the policy toward terminating early. (A
  non-zero ``step_cost`` does make shorter failures score higher than longer ones; it is off by default.)
- Never ending gains nothing. An episode the agent did not end (no terminate, no answer: it ran out of
  steps or hit the invalid-output limit) costs ``unfinished_penalty`` (0.2), less than a false completion
  (0.5) and more than an honest ``terminate(failure)`` (0). Without it, running out the clock dodged the
  false-completion penalty for free: GRPO learned to keep tapping to the step limit, which also undid
  finished toggles.
- Invalid outputs inside a success are not reinforced. The episode-level invalid-action penalty only ranks
  episodes; at the step level an invalid step's advantage is capped at ``invalid_step_advantage`` (-1 by
  default; ``advantages.step_advantages``), so it is pushed down even when its episode won its group.
"""

from __future__ import annotations

from collections.abc import Sequence

from gui_grpo.grpo.config import GRPOInputError, RewardConfig
from tasks.base import ClaimedStatus


def episode_reward(
    success_score: float,
    *,
    claimed_status: ClaimedStatus | None,
    invalid_actions: int,
    steps: int,
    progress_start: float | None = None,
    progress_end: float | None = None,
    side_effects: int = 0,
    ended_by_task: bool = False,
    cfg: RewardConfig,
) -> tuple[float, dict[str, float]]:
    """The episode's reward and its signed parts, which sum to it.

    ``claimed_status`` is what the agent's terminate (or answer, which claims success) said; None if it never
    ended the episode itself; ``ended_by_task`` when the environment ended it (a MiniWoB page's done), which
    is not unfinished. ``progress_start``/``progress_end`` are the task's potential Phi in [0, 1]; give
    both or neither (a task without a potential gets no shaping). ``side_effects`` counts unwanted changes.
    """
    _check_episode(success_score, invalid_actions, steps, progress_start, progress_end, side_effects)
    shaping = 0.0
    if cfg.progress_shaping and progress_start is not None and progress_end is not None:
        shaping = cfg.progress_coef * (progress_end - progress_start)
    raw = {
        "invalid_penalty": cfg.invalid_action_penalty * invalid_actions,
        "unfinished_penalty": cfg.unfinished_penalty if claimed_status is None and not ended_by_task else 0.0,
        "side_effect_penalty": cfg.side_effect_penalty * side_effects,
        "step_cost": cfg.step_cost * steps,
    }
    total_raw = sum(raw.values())
    scale = min(1.0, cfg.penalty_cap / total_raw) if total_raw > 0 else 1.0
    false_completion = claimed_status == "success" and success_score < 1.0
    breakdown = {
        "success": float(success_score),
        "shaping": shaping,
        **{name: -value * scale for name, value in raw.items()},
        "false_completion_penalty": -cfg.false_completion_penalty if false_completion else 0.0,
    }
    return sum(breakdown.values()), breakdown


def potential_shaping(potentials: Sequence[float], coef: float) -> list[float]:
    """Per-step shaping coef * (Phi_{t+1} - Phi_t) along a trajectory of potentials; it sums to
    coef * (Phi(end) - Phi(start)), the shaping ``episode_reward`` gives the whole episode."""
    return [coef * (after - before) for before, after in zip(potentials, potentials[1:], strict=False)]


def _check_episode(
    success_score: float,
    invalid_actions: int,
    steps: int,
    progress_start: float | None,
    progress_end: float | None,
    side_effects: int,
) -> None:
    if not 0.0 <= success_score <= 1.0:
        raise GRPOInputError(f"success_score={success_score} must be in [0, 1]; task checkers return [0, 1]")
    if steps < 1:
        raise GRPOInputError(f"steps={steps} must be >= 1: an episode has at least one action")
    if not 0 <= invalid_actions <= steps:
        raise GRPOInputError(f"invalid_actions={invalid_actions} must be between 0 and steps={steps}")
    if side_effects < 0:
        raise GRPOInputError(f"side_effects={side_effects} must be >= 0")
    if (progress_start is None) != (progress_end is None):
        raise GRPOInputError("give both progress_start and progress_end, or neither "
                             f"(got {progress_start} and {progress_end})")
    for name, value in (("progress_start", progress_start), ("progress_end", progress_end)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise GRPOInputError(f"{name}={value} must be in [0, 1], a task's progress range")
