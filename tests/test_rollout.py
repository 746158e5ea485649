"""Group rollouts with a real tiny model on PhoneSim: seeding, batching, recording."""

from __future__ import annotations

import pytest
import torch

from emulators.phonesim import SimDevice
from gui_grpo.engine import HFEngine
from gui_grpo.logprobs import completion_logprobs, right_aligned
from gui_grpo.model import load_policy
from gui_grpo.prompts import PromptBuilder, PromptConfig
from gui_grpo.rollout import Policy, play_groups, start_group
from gui_grpo.trainer import rebuild_prompt
from tasks.suites import instances

PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=28 * 28 * 24)


@pytest.fixture(scope="module")
def policy(tiny_model_dir):
    torch.manual_seed(0)
    model, processor, family = load_policy(tiny_model_dir, device="cpu", dtype="float32")
    builder = PromptBuilder(processor, family, PROMPT)
    return Policy(builder, HFEngine(model, processor, max_new_tokens=16, temperature=1.0))


def groups(n_tasks=2, size=3):
    tasks = instances("smoke", "train", n_tasks, seed=7)
    return [
        start_group(t, 100 + g, g, size, lambda s=100 + g: SimDevice(seed=s, resolution="small"))
        for g, t in enumerate(tasks)
    ]


def play(policy, max_batch, greedy=False):
    return play_groups(policy, groups(), run_seed=3, step=0, greedy=greedy, max_steps=2, max_batch=max_batch)


def test_actions_do_not_depend_on_batching(policy):
    a = play(policy, max_batch=16)
    b = play(policy, max_batch=1)
    assert [[s.completion_ids for s in r.steps] for r in a] == [
        [s.completion_ids for s in r.steps] for r in b
    ]
    assert [r.summary()["actions"] for r in a] == [r.summary()["actions"] for r in b]
    # Members of a group start alike but sample differently.
    assert len({tuple(r.steps[0].completion_ids) for r in a if r.group == 0}) > 1


def test_episodes_are_recorded_and_scored(policy):
    results = play(policy, max_batch=16)
    assert len(results) == 6 and {(r.group, r.member) for r in results} == {
        (g, m) for g in (0, 1) for m in (0, 1, 2)
    }
    for r in results:
        assert 1 <= len(r.steps) <= 2
        assert r.invalid_actions == sum(not s.valid for s in r.steps)
        assert r.score == 0.0  # a random policy does not switch settings by chance in two steps
        for s in r.steps:
            assert s.images_png and s.images_png[0].startswith(b"\x89PNG")
            assert len(s.logprobs) == len(s.completion_ids) > 0
            assert s.model_image_size[0] % 28 == 0 and s.model_image_size[1] % 28 == 0
        if len(r.steps) < 2:
            assert r.answer is not None or r.claimed_status is not None or r.lost


def test_greedy_is_deterministic(policy):
    a, b = play(policy, 16, greedy=True), play(policy, 16, greedy=True)
    assert [[s.completion_ids for s in r.steps] for r in a] == [
        [s.completion_ids for s in r.steps] for r in b
    ]


def test_behaviour_logprobs_match_recomputation_from_stored_pngs(policy):
    steps = [s for r in play(policy, 16) for s in r.steps][:6]
    prompts = [rebuild_prompt(s) for s in steps]
    comps = [s.completion_ids for s in steps]
    batch = policy.builder.encode(prompts, completions=comps)
    with torch.no_grad():
        logp, mask = completion_logprobs(
            policy.engine.model, batch, [len(c) for c in comps], 1.0, policy.engine.banned_ids
        )
    old = right_aligned([s.logprobs for s in steps], logp.shape[1])
    assert torch.allclose(logp * mask, old * mask, atol=1e-4)
