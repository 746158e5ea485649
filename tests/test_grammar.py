"""Grammar-constrained sampling: every sample parses, and the loss sees the distribution sampled from."""

from __future__ import annotations

import pytest
import torch

from emulators.phonesim import SimDevice
from gui_grpo.policy.actions import (
    Answer,
    Invalid,
    Key,
    LongPress,
    OpenApp,
    Swipe,
    Tap,
    Terminate,
    Type,
    Wait,
    format_action,
    parse_action,
)
from gui_grpo.policy.engine import HFEngine, stop_tokens
from gui_grpo.policy.grammar import ActionConstraint, Bounds, longest_action
from gui_grpo.policy.logprobs import completion_stats, right_aligned
from gui_grpo.policy.model import load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.policy.shared_prefix import SharedPrefixBatch, shared_prefix_stats

PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=40_000)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def setup(tiny_model_dir):
    """The tiny model with random weights, a constrained engine at a high temperature, two prompts."""
    model, processor, family = load_policy(tiny_model_dir, device="cpu", dtype="float32")
    builder = PromptBuilder(processor, family, PROMPT)
    engine = HFEngine(model, processor, max_new_tokens=80, temperature=2.0, encode=builder.encode)
    stop, kept = stop_tokens(processor.tokenizer)
    vocab = model.config.text_config.vocab_size
    engine.constraint = ActionConstraint(processor.tokenizer, vocab, [i for i in stop if i not in kept], 80,
                                         max_elements=PROMPT.max_elements)
    prompts = []
    for seed, app in ((1, None), (2, "Settings")):
        device = SimDevice(seed=seed, resolution="small")
        if app:
            device.execute(OpenApp(app))
        screen = builder.resize(device.screenshot())
        prompts.append(builder.build("Turn on Wi-Fi", [screen], [], device.screen_size, device.elements()))
    return engine, builder, family, prompts


def parsed(text: str, prompt, family: str) -> object:
    return parse_action(text, family=family, image_size=prompt.model_image_size,
                        screen_size=prompt.screen_size, elements=prompt.elements, action_format="json")


def test_a_random_model_never_writes_an_unparsable_action(setup):
    engine, _, family, prompts = setup
    seen: set[str] = set()
    for batch in range(10):  # 10 x 2 prompts x 50 = 1,000 samples
        seeds = [[batch * 1000 + p * 100 + i for i in range(50)] for p in range(2)]
        for prompt, row in zip(prompts, engine.sample(prompts, 50, seeds=seeds), strict=True):
            for c in row:
                assert c.stopped, c.text  # every action closed within the token budget
                action = parsed(c.text, prompt, family)
                assert not isinstance(action, Invalid), (c.text, action)
                seen.add(type(action).__name__)
    assert len(seen) >= 6  # it explores the action set, it is not stuck on one kind


def test_unconstrained_the_same_model_breaks_the_format(setup):
    engine, _, family, prompts = setup
    saved, engine.constraint = engine.constraint, None
    try:
        row = engine.sample(prompts[:1], 50, seeds=[list(range(50))])[0]
    finally:
        engine.constraint = saved
    assert sum(isinstance(parsed(c.text, prompts[0], family), Invalid) for c in row) > 25


def test_every_action_the_demonstrations_write_is_inside_the_grammar(setup):
    engine, builder, family, prompts = setup
    prompt = prompts[1]
    tok = builder.processor.tokenizer
    element = prompt.elements[0]
    actions = [Tap(*element.center), Tap(3, 5), LongPress(*element.center, 800), Swipe(10, 300, 10, 40),
               Type("Letters 2026"), Key("KEYCODE_BACK"), Key("KEYCODE_VOLUME_UP"), OpenApp("Settings"),
               Wait(1.0), Terminate("success"), Answer("Falcon Maple 61")]
    bounds = engine.constraint.bounds(len(prompt.elements), prompt.model_image_size)
    for action in actions:
        text = format_action(action, family=family, image_size=prompt.model_image_size,
                             screen_size=prompt.screen_size, action_format="json", elements=prompt.elements)
        ids = tok.encode(text, add_special_tokens=False) + [tok.convert_tokens_to_ids("<|im_end|>")]
        masks = engine.constraint.token_masks([ids], [bounds], len(ids), right=True)  # raises if outside
        assert all(masks[0, t, i] for t, i in enumerate(ids)), text


def test_the_loss_log_probs_are_the_sampling_log_probs(setup):
    engine, builder, _, prompts = setup
    comps = [c for row in engine.sample(prompts, [3, 3], seeds=[[1, 2, 3], [4, 5, 6]]) for c in row]
    rows = [prompts[0]] * 3 + [prompts[1]] * 3
    ids = [c.token_ids for c in comps]
    lens = [len(i) for i in ids]
    bounds = [engine.constraint.bounds(len(p.elements), p.model_image_size) for p in rows]
    width = max(lens)
    old = right_aligned([c.logprobs for c in comps], width)
    right = engine.constraint.token_masks(ids, bounds, width, right=True)
    left = engine.constraint.token_masks(ids, bounds, width, right=False)
    with torch.no_grad():
        encoded = builder.encode(rows, completions=ids)
        args = (engine.model, encoded, lens, engine.temperature, engine.banned_ids)
        plain = completion_stats(*args, allowed=right)
        free = completion_stats(*args)
        batch = SharedPrefixBatch(builder.encode(prompts), torch.tensor([0, 0, 0, 1, 1, 1]), ids,
                                  builder.processor.tokenizer.pad_token_id)
        shared = shared_prefix_stats(engine.model, batch, engine.temperature, engine.banned_ids, allowed=left)
    m = plain.mask
    assert torch.allclose(plain.logp * m, old * m, atol=1e-4)
    assert torch.allclose(shared.logp * m, old * m, atol=1e-4)
    assert not torch.allclose(free.logp * m, old * m, atol=1e-2)  # without the masks they differ


def test_bounds_and_budget():
    assert longest_action(24) < 80
    with pytest.raises(ValueError, match="max_new_tokens"):
        ActionConstraint(None, 10, [0], max_new_tokens=40)
    assert Bounds(3, 112, 280) == Bounds(3, 112, 280)  # grammars are cached by value
