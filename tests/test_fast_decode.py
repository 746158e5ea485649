"""The lean decode step (the model's layers over a pre-allocated cache) samples exactly what
``model.forward`` over a growing ``DynamicCache`` samples, for every Qwen VL family."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageDraw

from gui_grpo.modeling.build import init_model
from gui_grpo.policy.engine import HFEngine
from gui_grpo.policy.fast_decode import decoder_for
from gui_grpo.policy.model import AdapterConfig, load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig

PROMPT = PromptConfig(observation="pixels", action_format="json", max_pixels=28 * 28 * 24)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def screen(colour: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (280, 560), colour)
    ImageDraw.Draw(img).rectangle((20, 40, 160, 110), fill=(20, 60, 200))
    return img


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def family_setup(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"fast-{request.param}")
    init_model(out, family=request.param, size="tiny", seed=0)
    model, processor, family = load_policy(str(out), device="cpu", dtype="float32", lora=AdapterConfig(4, 8))
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)  # a non-zero adapter, so LoRA layers change the logits
    builder = PromptBuilder(processor, family, PROMPT)
    prompts = [
        builder.build("Tap OK", [builder.resize(screen((240, 240, 240)))], [], (280, 560)),
        # A longer prompt: the first one is left-padded in the batch.
        builder.build(
            "Open the settings app and then tap Wi-Fi",
            [builder.resize(screen((30, 30, 30)))],
            ['{"action": "open", "text": "Settings"}'],
            (280, 560),
        ),
    ]
    return model, processor, builder, prompts


def engines(model, processor, builder, stop_every: int | None = None):
    pair = []
    for fast in (True, False):
        engine = HFEngine(model, processor, max_new_tokens=16, fast_decode=fast)
        engine.bind(builder)
        if stop_every:  # rows end at different steps and leave the batch mid-decode
            vocab = model.config.text_config.vocab_size
            engine.stop_ids = sorted(set(range(0, vocab, stop_every)) - set(engine.banned_ids))
        pair.append(engine)
    return pair


def test_the_lean_path_covers_every_family(family_setup):
    model = family_setup[0]
    assert decoder_for(model) is not None


@pytest.mark.parametrize("greedy", [True, False])
@pytest.mark.parametrize("stop_every", [None, 3])
@pytest.mark.parametrize("merge", [True, False], ids=["merged-weights", "modules"])
def test_lean_decode_samples_what_model_forward_samples(family_setup, greedy, stop_every, merge):
    model, processor, builder, prompts = family_setup
    fast, plain = engines(model, processor, builder, stop_every)
    default = fast._fast.merge  # one decoder per model: put the setting back for the next test
    fast._fast.merge = merge  # small models merge LoRA into fused weights; large ones call the modules
    seeds = None if greedy else [[1, 2, 3], [4, 5]]
    try:
        a = [c for row in fast.sample(prompts, [3, 2], seeds=seeds, greedy=greedy) for c in row]
    finally:
        fast._fast.merge = default
    b = [c for row in plain.sample(prompts, [3, 2], seeds=seeds, greedy=greedy) for c in row]
    assert [c.token_ids for c in a] == [c.token_ids for c in b]
    if stop_every and not greedy:
        assert len({len(c.token_ids) for c in a}) > 1
    for x, y in zip(a, b, strict=True):
        assert x.logprobs == pytest.approx(y.logprobs, abs=1e-5)


def test_lean_decode_follows_a_disabled_adapter(family_setup):
    model, processor, builder, prompts = family_setup
    fast, plain = engines(model, processor, builder)
    with model.disable_adapter():
        a = fast.sample(prompts, 1, greedy=True)
        b = plain.sample(prompts, 1, greedy=True)
    on = fast.sample(prompts, 1, greedy=True)
    assert [r[0].token_ids for r in a] == [r[0].token_ids for r in b]
    assert [r[0].logprobs for r in a] != [r[0].logprobs for r in on]
