"""Replay of rare successes: a stored success joins only a failing group of its own instance."""

from __future__ import annotations

import dataclasses

import pytest

from gui_grpo.grpo.config import LossConfig, RewardConfig
from gui_grpo.rollout.records import EpisodeResult, Step
from gui_grpo.train.config import ConfigError, RolloutConfig
from gui_grpo.train.replay import SuccessReplay, instance_key
from gui_grpo.train.samples import make_samples, score_episodes
from gui_grpo.train.trainer import Trainer
from tests.test_trainer import config


def step(action: str = "Click(1, 2)") -> Step:
    return Step("prompt", [], (10, 10), (10, 10), [1, 2], [-0.5, -0.5], action, action, True)


def episode(task: str, group: int, member: int, score: float, *, city: str = "Oslo", start: str | None = "h1",
            phrasing: str = "Do it.") -> EpisodeResult:
    r = EpisodeResult(task, {"city": city}, phrasing, seed=7, group=group, member=member, steps=[step()])
    r.score, r.start_hash = score, start
    if score >= 1.0:
        r.claimed_status = "success"
    return r


def test_a_failing_group_takes_the_stored_success_of_its_own_instance_only():
    replay = SuccessReplay()
    replay.add([episode("a.task", 0, 0, 1.0), episode("a.task", 0, 1, 0.0)])
    assert len(replay) == 1
    batch = [
        *[episode("a.task", 3, m, 0.0) for m in range(2)],  # the same instance, all failed: takes it
        *[episode("b.task", 4, m, 0.0) for m in range(2)],  # another template
        *[episode("a.task", 5, m, 0.0, city="Rome") for m in range(2)],  # another instance of the template
        *[episode("a.task", 6, m, 0.0, phrasing="Please do it.") for m in range(2)],  # another phrasing
        *[episode("a.task", 7, m, 0.0, start="h2") for m in range(2)],  # another start state
        episode("a.task", 8, 0, 1.0), episode("a.task", 8, 1, 0.0),  # a group with a success of its own
    ]
    filled, added = replay.fill(batch)
    assert added == 1 and filled[: len(batch)] == batch
    extra = filled[-1]
    assert extra.replayed and extra.group == 3 and extra.member == 2
    assert instance_key(extra) == instance_key(batch[0])
    for group in (4, 5, 6, 7, 8):  # no other group grew
        assert sum(r.group == group for r in filled) == 2
    # A replayed episode is never stored again as if it were new, and a lost or stepless success is not kept.
    other = SuccessReplay()
    lost = dataclasses.replace(episode("c.task", 0, 0, 1.0), lost="DeviceUnreachable")
    other.add([extra, lost, dataclasses.replace(episode("d.task", 0, 0, 1.0), steps=[])])
    assert len(other) == 0


def test_replayed_samples_carry_the_advantage_of_a_success_and_are_marked():
    replay = SuccessReplay()
    replay.add([episode("a.task", 0, 0, 1.0)])
    filled, _ = replay.fill([episode("a.task", 1, m, 0.0) for m in range(3)])
    rewards = score_episodes(filled, RewardConfig())
    samples, stats = make_samples(filled, rewards, LossConfig(), RewardConfig())
    assert stats["frac_reward_zero_std"] == 0.0  # the group now has a spread
    replayed = [s for s in samples if s.replayed]
    assert len(replayed) == 1 and replayed[0].advantage > 0
    assert all(s.advantage < 0 for s in samples if not s.replayed)
    # The replayed step keeps the log-probs it was sampled with: the loss's ratio is the importance ratio.
    assert replayed[0].step.logprobs == [-0.5, -0.5]


def test_replay_needs_an_instance_pool():
    with pytest.raises(ConfigError, match="instance_pool"):
        RolloutConfig(replay_successes=True)
    RolloutConfig(replay_successes=True, instance_pool=4)


def test_training_instances_come_from_the_pool_and_replay_is_logged(tiny_model_dir, tmp_path):
    trainer = Trainer(config(tiny_model_dir, str(tmp_path / "run"), steps=2, rollout__instance_pool=2,
                             rollout__replay_successes=True, rollout__groups_per_step=2, lora__r=4))
    from tasks.suites import suite_templates, template_seeds

    pool = {(t.name, t.sample(seed).instruction, t.sample(seed).params["world"])
            for t in suite_templates("smoke") for seed in template_seeds("train", 2)}
    starts: dict[tuple, set] = {}
    for s in range(3):
        results = trainer.collect(step=s)
        assert {(r.task, r.instruction, r.params["world"]) for r in results} <= pool
        for r in results:
            starts.setdefault((r.task, r.instruction, r.params["world"]), set()).add(r.start_hash)
    assert all(len(hashes) == 1 for hashes in starts.values())  # an instance always starts the same
    history = trainer.train()
    assert all("replayed_share" in row and "replayed_episodes" in row for row in history)
    assert any(k.startswith("success/settings.") for k in history[0])


def test_failed_groups_are_dropped_unless_a_replayed_success_joined_them():
    failed = [episode("a.task", 1, m, 0.0) for m in range(3)]
    failed[0].invalid_actions = 1  # a spread from penalties only
    other = [episode("b.task", 2, m, 0.0) for m in range(3)]
    other[1].invalid_actions = 1
    replay = SuccessReplay()
    replay.add([episode("a.task", 0, 0, 1.0)])
    batch, added = replay.fill(failed + other)
    assert added == 1
    rewards = score_episodes(batch, RewardConfig())
    keep_all, stats = make_samples(batch, rewards, LossConfig(), RewardConfig())
    assert {id(s.step) for s in keep_all} >= {id(s) for r in other for s in r.steps}
    dropping, stats = make_samples(batch, rewards, LossConfig(drop_failed_groups=True), RewardConfig())
    kept_steps = {id(s.step) for s in dropping}
    assert not kept_steps & {id(s) for r in other for s in r.steps}  # penalties alone teach nothing here
    assert kept_steps >= {id(s) for r in batch if r.group == 1 for s in r.steps}  # the replayed group stays
    assert stats["frac_failed_groups"] == 0.5


def test_with_shaping_a_failed_group_whose_members_got_unequally_far_is_kept():
    group = [episode("a.task", 1, m, 0.0) for m in range(3)]
    group[0].progress_end = 0.5  # one member reached the right page
    shaping = RewardConfig(progress_shaping=True, progress_coef=0.3)
    flat = [episode("b.task", 2, m, 0.0) for m in range(3)]
    flat[1].invalid_actions = 1
    batch = group + flat
    rewards = score_episodes(batch, shaping)
    samples, _ = make_samples(batch, rewards, LossConfig(drop_failed_groups=True), shaping)
    kept = {id(s.step) for s in samples}
    assert kept == {id(s) for r in group for s in r.steps}
