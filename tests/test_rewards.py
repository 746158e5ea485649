"""Episode rewards, credit from episodes to steps, and the two ways a policy might game them."""

import itertools
import random

import pytest
import torch

from gui_grpo.grpo import (
    ConfigError,
    GRPOInputError,
    RewardConfig,
    broadcast_to_steps,
    episode_reward,
    group_advantages,
    policy_loss,
    potential_shaping,
    preset,
    step_advantages,
    step_weights,
)

DEFAULT = RewardConfig()
SHAPED = RewardConfig(progress_shaping=True, progress_coef=0.2)


@pytest.mark.parametrize(
    "case,score,kwargs,cfg,expected,parts",
    [
        ("clean success", 1.0, dict(claimed_status="success", invalid_actions=0, steps=5), DEFAULT, 1.0, {}),
        ("honest failure", 0.0, dict(claimed_status="failure", invalid_actions=0, steps=5), DEFAULT, 0.0, {}),
        ("false completion", 0.0, dict(claimed_status="success", invalid_actions=0, steps=3), DEFAULT, -0.5,
         {"false_completion_penalty": -0.5}),
        ("partial, claimed success", 0.5, dict(claimed_status="success", invalid_actions=0, steps=3), DEFAULT,
         0.0, {"success": 0.5, "false_completion_penalty": -0.5}),
        ("ran out of steps", 1.0, dict(claimed_status=None, invalid_actions=0, steps=20), DEFAULT, 0.8,
         {"unfinished_penalty": -0.2}),
        ("two invalid actions", 1.0, dict(claimed_status="success", invalid_actions=2, steps=6), DEFAULT, 0.8,
         {"invalid_penalty": -0.2}),
        ("invalid penalty capped", 0.0, dict(claimed_status="failure", invalid_actions=9, steps=10), DEFAULT,
         -0.5, {"invalid_penalty": -0.5}),
        ("cap shared with unfinished", 0.0, dict(claimed_status=None, invalid_actions=3, steps=10), DEFAULT,
         -0.5, {"invalid_penalty": -0.5 * 3 / 5, "unfinished_penalty": -0.5 * 2 / 5}),
        ("shaping", 0.0, dict(claimed_status="failure", invalid_actions=0, steps=4, progress_start=0.25,
                              progress_end=0.75), SHAPED, 0.1, {"shaping": 0.1}),
        ("shaping off ignores progress", 0.0, dict(claimed_status="failure", invalid_actions=0, steps=4,
                                                   progress_start=0.0, progress_end=1.0), DEFAULT, 0.0, {}),
        ("task without a potential", 1.0, dict(claimed_status="success", invalid_actions=0, steps=4), SHAPED,
         1.0, {"shaping": 0.0}),
        ("side effects", 1.0, dict(claimed_status="success", invalid_actions=0, steps=4, side_effects=2),
         RewardConfig(side_effect_penalty=0.1), 0.8, {"side_effect_penalty": -0.2}),
        ("step cost", 1.0, dict(claimed_status="success", invalid_actions=0, steps=10),
         RewardConfig(step_cost=0.01), 0.9, {"step_cost": -0.1}),
        ("cap shared in proportion", 1.0, dict(claimed_status="success", invalid_actions=3, steps=10),
         RewardConfig(step_cost=0.04), 0.5, {"invalid_penalty": -0.5 * 3 / 7, "step_cost": -0.5 * 4 / 7}),
    ],
)
def test_reward_table(case, score, kwargs, cfg, expected, parts):
    reward, breakdown = episode_reward(score, cfg=cfg, **kwargs)
    assert reward == pytest.approx(expected), case
    assert sum(breakdown.values()) == pytest.approx(reward)
    assert set(breakdown) == {"success", "shaping", "invalid_penalty", "unfinished_penalty",
                              "side_effect_penalty", "step_cost", "false_completion_penalty"}
    for name, value in parts.items():
        assert breakdown[name] == pytest.approx(value), (case, name)


CONFIGS = [
    DEFAULT,
    SHAPED,
    RewardConfig(progress_shaping=True, progress_coef=0.45, penalty_cap=0.5, step_cost=0.05,
                 side_effect_penalty=0.3, invalid_action_penalty=0.2),
    RewardConfig(penalty_cap=0.95, step_cost=0.1, false_completion_penalty=0.0),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_terminating_early_never_beats_succeeding(cfg):
    """Within a group (one start state), the best failure, however short and whatever it claims or however
    much progress it made, scores below the worst success, however long and clumsy."""
    for start in [None, 0.0, 0.5, 1.0]:
        worst_success, best_failure = float("inf"), -float("inf")
        ends = [None] if start is None else [0.0, 0.5, 1.0]
        for steps, claimed, end in itertools.product([1, 2, 5, 30], ["success", "failure", None], ends):
            for invalid, side_effects in [(0, 0), (steps, 0), (0, 3), (steps, 3)]:
                kwargs = dict(invalid_actions=invalid, steps=steps, progress_start=start, progress_end=end,
                              side_effects=side_effects, cfg=cfg)
                best_failure = max(best_failure, episode_reward(0.0, claimed_status=claimed, **kwargs)[0])
                if claimed != "failure":
                    success = episode_reward(1.0, claimed_status=claimed, **kwargs)[0]
                    worst_success = min(worst_success, success)
        assert best_failure < worst_success, start


def test_quitting_with_an_answer_costs_what_claiming_success_costs():
    """Ending a failed episode with an ``answer`` claims it done, like ``terminate(success)``: both cost the
    false-completion penalty, so answering is no cheap way out of a task the policy cannot do (GRPO found
    that one: with only terminate penalised, it learned to stop a toggle task early with an answer). An
    honest ``terminate(failure)`` costs nothing; a right answer scores 1."""
    from gui_grpo.rollout.records import EpisodeResult, Step
    from gui_grpo.train.metrics import episode_metrics
    from gui_grpo.train.samples import score_episodes

    def episode(score: float, answer: str | None = None, status: str | None = None) -> EpisodeResult:
        steps = [Step("p", [], (540, 1200), (112, 280), [1], [0.0], "x", "Tap(x=1, y=1)", True)] * 2
        return EpisodeResult("t", {}, "do it", 0, 0, 0, steps=steps, answer=answer, claimed_status=status,
                             score=score)

    eps = [episode(0.0, answer="success"), episode(0.0, status="success"), episode(0.0, status="failure"),
           episode(0.0), episode(1.0, answer="07:30")]
    assert score_episodes(eps, DEFAULT) == pytest.approx([-0.5, -0.5, 0.0, -0.2, 1.0])
    assert [e.claims_success for e in eps] == [True, True, False, False, True]
    assert episode_metrics(eps, [0.0] * 5)["false_completion_rate"] == pytest.approx(2 / 5)


def test_running_out_the_clock_is_no_way_around_the_false_completion_penalty():
    """Not ending an episode scores below ending it honestly (done: terminate(success); stuck:
    terminate(failure)) and above a false completion, so the penalty pushes toward ending honestly, not
    claiming success. GRPO found the gap: with timeouts free, it learned to keep tapping to the step limit."""
    def reward(score: float, claimed: str | None) -> float:
        return episode_reward(score, claimed_status=claimed, invalid_actions=0, steps=8, cfg=DEFAULT)[0]

    assert reward(1.0, "success") > reward(1.0, None) > reward(0.0, "failure")
    assert reward(0.0, "failure") > reward(0.0, None) > reward(0.0, "success")


def test_with_inverse_length_weights_a_failure_pushes_down_the_same_whatever_its_length():
    """Four episodes from one start: a success and three failures of 1, 3 and 8 steps. With 1/T weights each
    failure's summed policy gradient is the same; without them it grows with the episode's length."""
    cfg = RewardConfig()
    lengths = torch.tensor([4, 1, 3, 8])
    claims = ["success", "failure", "failure", "failure"]  # equal rewards: only the lengths differ
    rewards = torch.tensor([
        episode_reward(1.0 if i == 0 else 0.0, claimed_status=claims[i], invalid_actions=0, steps=int(n),
                       cfg=cfg)[0]
        for i, n in enumerate(lengths)
    ])
    episode_adv = group_advantages(rewards, torch.zeros(4, dtype=torch.long))     # (E,)
    adv = broadcast_to_steps(episode_adv, lengths)                                # (S,)
    episode_of_step = broadcast_to_steps(torch.arange(4), lengths)                # (S,)
    for weighted in (True, False):
        weights = step_weights(lengths, inverse_length=weighted)                  # (S,)
        logp = torch.full((len(adv), 3), -1.0, requires_grad=True)               # (S, tokens)
        loss, _ = policy_loss(logp, logp.detach(), adv, torch.ones_like(logp), preset("grpo"),
                              step_weights=weights)
        loss.backward()
        per_episode = torch.zeros(4).index_add_(0, episode_of_step, logp.grad.sum(dim=1))  # (E,)
        push_down = per_episode[1:]  # the failures: positive gradient = log-probs pushed down
        assert torch.all(push_down > 0)
        if weighted:
            torch.testing.assert_close(push_down, push_down[0].expand(3))
            summed = torch.zeros(4).index_add_(0, episode_of_step, weights * adv)
            torch.testing.assert_close(summed, episode_adv)
        else:
            torch.testing.assert_close(push_down / lengths[1:], (push_down[0] / lengths[1]).expand(3))


def test_toggling_back_and_forth_earns_nothing():
    coef = SHAPED.progress_coef
    toggled = [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]  # switch on, off, on, off ...
    assert sum(potential_shaping(toggled, coef)) == pytest.approx(0.0)
    assert sum(potential_shaping(toggled + [1.0], coef)) == pytest.approx(coef)  # same as switching on once
    rng = random.Random(0)
    for _ in range(50):
        phis = [rng.random() for _ in range(rng.randint(2, 12))]
        _, breakdown = episode_reward(0.0, claimed_status="failure", invalid_actions=0, steps=len(phis) - 1,
                                      progress_start=phis[0], progress_end=phis[-1], cfg=SHAPED)
        assert sum(potential_shaping(phis, coef)) == pytest.approx(breakdown["shaping"])
    still = episode_reward(0.0, claimed_status="failure", invalid_actions=0, steps=1, progress_start=0.0,
                           progress_end=0.0, cfg=SHAPED)
    round_trip = episode_reward(0.0, claimed_status="failure", invalid_actions=0, steps=6,
                                progress_start=0.0, progress_end=0.0, cfg=SHAPED)
    assert round_trip == still and round_trip[0] == 0.0


def test_step_credit_helpers():
    lengths = torch.tensor([2, 1, 3])
    steps = broadcast_to_steps(torch.tensor([0.5, -1.0, 2.0]), lengths)
    assert steps.tolist() == [0.5, 0.5, -1.0, 2.0, 2.0, 2.0]
    torch.testing.assert_close(step_weights(lengths), torch.tensor([0.5, 0.5, 1.0, 1 / 3, 1 / 3, 1 / 3]))
    assert step_weights(lengths, inverse_length=False).tolist() == [1.0] * 6
    with pytest.raises(GRPOInputError, match=">= 1"):
        step_weights(torch.tensor([2, 0]))
    with pytest.raises(GRPOInputError, match="integers"):
        broadcast_to_steps(torch.ones(2), torch.tensor([1.0, 2.0]))
    with pytest.raises(GRPOInputError):
        broadcast_to_steps(torch.ones(3), torch.tensor([1, 2]))


@pytest.mark.parametrize(
    "kwargs,fix_hint",
    [
        (dict(progress_shaping=True, progress_coef=0.6), "lower progress_coef or penalty_cap"),
        (dict(penalty_cap=1.0), "lower progress_coef or penalty_cap"),
        (dict(step_cost=-0.1), "step_cost"),
        (dict(progress_shaping=True, progress_coef=0.0), "progress_shaping=False"),
    ],
)
def test_bad_reward_config_says_how_to_fix(kwargs, fix_hint):
    with pytest.raises(ConfigError) as err:
        RewardConfig(**kwargs)
    assert fix_hint in str(err.value)


@pytest.mark.parametrize(
    "score,kwargs,match",
    [
        (1.5, dict(invalid_actions=0, steps=1), "success_score"),
        (1.0, dict(invalid_actions=0, steps=0), "steps"),
        (1.0, dict(invalid_actions=3, steps=2), "invalid_actions"),
        (1.0, dict(invalid_actions=0, steps=2, side_effects=-1), "side_effects"),
        (1.0, dict(invalid_actions=0, steps=2, progress_start=0.5), "both"),
        (1.0, dict(invalid_actions=0, steps=2, progress_start=0.5, progress_end=1.5), "progress_end"),
    ],
)
def test_bad_episode_facts_raise(score, kwargs, match):
    with pytest.raises(GRPOInputError, match=match):
        episode_reward(score, claimed_status=None, cfg=SHAPED, **kwargs)


def test_step_advantages_cap_only_invalid_steps_and_check_their_mask():
    adv = step_advantages(torch.tensor([0.8, -0.4]), torch.tensor([2, 1]), torch.tensor([True, False, False]),
                          invalid_cap=-1.0)
    assert adv.tolist() == pytest.approx([0.8, -1.0, -1.0])
    with pytest.raises(GRPOInputError, match="valid must be a bool"):
        step_advantages(torch.tensor([0.8]), torch.tensor([2]), torch.tensor([True]))
