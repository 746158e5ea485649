"""Policy loading and the offline tiny models: build, load with LoRA, forward/backward, generate, errors."""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from PIL import Image, ImageDraw
from transformers import AutoModelForImageTextToText, AutoProcessor

from gui_grpo.cli import init_model as init_model_command
from gui_grpo.cli.main import UserError
from gui_grpo.modeling.build import init_model
from gui_grpo.policy.coords import family_spec
from gui_grpo.policy.model import (
    AdapterConfig,
    ModelLoadError,
    detect_family,
    load_policy,
    parameter_counts,
    patch_embed_as_matmul,
    vision_tower,
)

FAMILIES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
PROCESSOR_CLASSES = {
    "qwen2_vl": "Qwen2VLProcessor",
    "qwen2_5_vl": "Qwen2_5_VLProcessor",
    "qwen3_vl": "Qwen3VLProcessor",
}
ACTION_TEXTS = (
    '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [540, 1200]}}'
    "\n</tool_call>",
    '{"action": "click", "index": 3}',
    "Add a contact named Ana Diaz with phone +34 600 111 222",
    "<think>\nOpen Settings first.\n</think>\nWhat is Ana's phone number? Zoë",
)


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {family: init_model(root / family, family=family, seed=0).path for family in FAMILIES}


def screenshot(width: int = 280, height: int = 616, seed: int = 0) -> Image.Image:
    img = Image.new("RGB", (width, height), (240, 240, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 40 + 30 * seed, 260, 90 + 30 * seed), fill=(30, 90, 200))
    draw.text((30, 50 + 30 * seed), "Airplane mode", fill=(255, 255, 255))
    return img


def chat_inputs(processor, images: list[Image.Image], instruction: str = "Turn on airplane mode"):
    texts = []
    for img in images:
        messages = [
            {"role": "system", "content": "You operate a phone. Answer with one tool call."},
            {
                "role": "user",
                "content": [{"type": "image", "image": img}, {"type": "text", "text": instruction}],
            },
        ]
        texts.append(processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return processor(text=texts, images=images, return_tensors="pt", padding=True)


def test_saved_model_loads_with_auto_classes(model_dirs):
    for family, path in model_dirs.items():
        model = AutoModelForImageTextToText.from_pretrained(path)
        processor = AutoProcessor.from_pretrained(path)
        text = model.config.text_config
        assert model.config.model_type == family
        assert text.rope_parameters["rope_theta"] == 10.0
        head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        assert head_dim == 32 and sum(text.rope_parameters["mrope_section"]) == head_dim // 2
        assert type(processor).__name__ == PROCESSOR_CLASSES[family]
        assert processor.image_processor.patch_size == family_spec(family).patch_size
        tok = processor.tokenizer
        assert tok.convert_tokens_to_ids("<|image_pad|>") == model.config.image_token_id
        assert tok.convert_tokens_to_ids("<|vision_start|>") == model.config.vision_start_token_id
        assert len(tok) <= text.vocab_size
        eos = model.generation_config.eos_token_id
        assert eos == [tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id]


@pytest.mark.parametrize("family", FAMILIES)
def test_tokenizer_round_trips_actions_and_splits_digits(model_dirs, family):
    tok = AutoProcessor.from_pretrained(model_dirs[family]).tokenizer
    for text in ACTION_TEXTS:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids, skip_special_tokens=True) == text
    pieces = tok.convert_ids_to_tokens(tok("[540, 1200] +34 600", add_special_tokens=False)["input_ids"])
    digits = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digits == list("540120034600")
    tool_ids = tok("<tool_call>\n{}\n</tool_call>", add_special_tokens=False)["input_ids"]
    assert tool_ids[0] == tok.convert_tokens_to_ids("<tool_call>")
    assert tool_ids[-1] == tok.convert_tokens_to_ids("</tool_call>")
    if family == "qwen3_vl":
        assert len(tok("<think>", add_special_tokens=False)["input_ids"]) == 1


def test_chat_template_matches_qwen_layout(model_dirs):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}]
    q25 = AutoProcessor.from_pretrained(model_dirs["qwen2_5_vl"])
    text = q25.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n"
    )
    q3 = AutoProcessor.from_pretrained(model_dirs["qwen3_vl"])
    text = q3.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    assert text == "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n"


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_forward_backward_and_sampling(model_dirs, family):
    model, processor, name = load_policy(model_dirs[family], device="cpu", lora=AdapterConfig(r=4, alpha=8))
    assert name == family and next(model.parameters()).dtype == torch.float32
    inputs = chat_inputs(processor, [screenshot()])
    n_image_tokens = int((inputs["input_ids"] == model.config.image_token_id).sum())
    grid = inputs["image_grid_thw"][0]
    assert n_image_tokens == int(grid.prod()) // family_spec(family).merge_size**2
    model.train()
    out = model(**inputs, labels=inputs["input_ids"])
    assert torch.isfinite(out.loss)
    out.loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad and all(".lora_" in n and "language_model" in n for n in with_grad)
    assert any("mlp.down_proj" in n for n in with_grad) and any("self_attn.q_proj" in n for n in with_grad)
    assert not any(p.requires_grad for p in vision_tower(model).parameters())
    model.eval()
    torch.manual_seed(0)
    generated = model.generate(
        **inputs, max_new_tokens=4, min_new_tokens=4, do_sample=True, top_k=0, top_p=1.0
    )
    new = generated[:, inputs["input_ids"].shape[1] :]
    assert new.shape == (1, 4) and int(new.max()) < model.config.text_config.vocab_size
    assert isinstance(processor.batch_decode(new)[0], str)


def test_lora_targets_exclude_the_vision_tower(model_dirs):
    # Qwen2.5-VL vision blocks have gate/up/down_proj too: the regex must skip them.
    model, _, _ = load_policy(model_dirs["qwen2_5_vl"], device="cpu", lora=AdapterConfig(r=2))
    lora_modules = {n for n, _ in model.named_modules() if n.endswith(".lora_A")}
    assert lora_modules and all("language_model" in n for n in lora_modules)
    assert any("visual" in n and n.endswith("mlp.gate_proj") for n, _ in model.named_modules())
    trainable, total = parameter_counts(model)
    assert 0 < trainable < total / 10


def test_full_finetune_and_train_vision(model_dirs):
    model, _, _ = load_policy(model_dirs["qwen2_vl"], device="cpu")
    assert not any(p.requires_grad for p in vision_tower(model).parameters())
    assert all(p.requires_grad for p in model.model.language_model.parameters())
    lora = AdapterConfig(r=2)
    model, _, _ = load_policy(model_dirs["qwen2_vl"], device="cpu", lora=lora, train_vision=True)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("visual" in n and "modules_to_save" in n for n in trainable)


def test_gradient_checkpointing_trains_lora(model_dirs):
    model, processor, _ = load_policy(
        model_dirs["qwen3_vl"], device="cpu", lora=AdapterConfig(r=2), gradient_checkpointing=True
    )
    assert model.get_base_model().model.language_model.gradient_checkpointing
    inputs = chat_inputs(processor, [screenshot(), screenshot(seed=2)])
    model.train()
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_A" in n]
    assert grads and all(g is not None for g in grads)


def test_adapter_save_and_reload(model_dirs, tmp_path):
    path = model_dirs["qwen2_5_vl"]
    model, processor, _ = load_policy(path, device="cpu", lora=AdapterConfig(r=2))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    inputs = chat_inputs(processor, [screenshot()])
    with torch.no_grad():
        expected = model(**inputs).logits
        with model.disable_adapter():
            base_logits = model(**inputs).logits
    assert not torch.allclose(expected, base_logits)
    model.save_pretrained(tmp_path / "adapter")
    resumed, _, _ = load_policy(path, device="cpu", adapter=tmp_path / "adapter")
    assert any(p.requires_grad for n, p in resumed.named_parameters() if "lora_" in n)
    stacked, _, _ = load_policy(path, device="cpu", adapter=tmp_path / "adapter", lora=AdapterConfig(r=2))
    with torch.no_grad():
        torch.testing.assert_close(resumed(**inputs).logits, expected)
        # The warm-start adapter is merged: a fresh LoRA (B = 0) and "adapter disabled" both give it.
        torch.testing.assert_close(stacked(**inputs).logits, expected, atol=1e-4, rtol=1e-4)
        with stacked.disable_adapter():
            torch.testing.assert_close(stacked(**inputs).logits, expected, atol=1e-4, rtol=1e-4)


def test_same_seed_same_model(tmp_path, model_dirs):
    again = init_model(tmp_path / "again", family="qwen2_5_vl", seed=0).path
    other = init_model(tmp_path / "other", family="qwen2_5_vl", seed=1).path
    a, b, c = (
        AutoModelForImageTextToText.from_pretrained(p).state_dict()
        for p in (model_dirs["qwen2_5_vl"], again, other)
    )
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a if k in c and a[k].shape == c[k].shape)
    first = (model_dirs["qwen2_5_vl"] / "tokenizer.json").read_text()
    assert (tmp_path / "again" / "tokenizer.json").read_text() == first


def test_load_errors(tmp_path, model_dirs):
    with pytest.raises(ModelLoadError, match="does not exist.*init-model"):
        load_policy(tmp_path / "missing", device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_policy(tmp_path / "empty", device="cpu")
    text_only = tmp_path / "text_only"
    text_only.mkdir()
    (text_only / "config.json").write_text(json.dumps({"model_type": "qwen2", "hidden_size": 64}))
    with pytest.raises(ModelLoadError, match="not a vision-language model"):
        load_policy(text_only, device="cpu")
    other_vl = tmp_path / "llava"
    other_vl.mkdir()
    (other_vl / "config.json").write_text(json.dumps({"model_type": "llava", "vision_config": {}}))
    with pytest.raises(ModelLoadError, match="without a known action format"):
        load_policy(other_vl, device="cpu")
    with pytest.raises(ModelLoadError, match="no adapter_config.json"):
        load_policy(model_dirs["qwen2_vl"], device="cpu", adapter=tmp_path / "empty")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="no GPU"):
            load_policy(model_dirs["qwen2_vl"], device="cuda")


def test_lora_settings_validation():
    with pytest.raises(ValueError, match="r must be"):
        AdapterConfig(r=0)
    with pytest.raises(ValueError, match="dropout"):
        AdapterConfig(dropout=1.0)
    with pytest.raises(ValueError, match="module names"):
        AdapterConfig(target_modules=("q_proj.*",))


def test_init_model_command(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    init_model_command.register(parser.add_subparsers(dest="command"))
    out = tmp_path / "m"
    args = parser.parse_args(["init-model", str(out), "--family", "qwen3_vl", "--seed", "3"])
    assert args.func(args) == 0
    assert "qwen3_vl" in capsys.readouterr().out
    assert detect_family(out) == "qwen3_vl"
    with pytest.raises(UserError, match="not empty.*--force"):
        args.func(args)
    args = parser.parse_args(["init-model", str(out), "--family", "qwen2_vl", "--force"])
    assert args.func(args) == 0 and detect_family(out) == "qwen2_vl"


def test_measure_tiny_and_small(tmp_path, model_dirs):
    """Report sizes and the cost of one LoRA forward+backward at batch 8 (printed, not asserted)."""
    small = init_model(tmp_path / "small", family="qwen2_5_vl", size="small")
    model, processor, _ = load_policy(model_dirs["qwen2_5_vl"], device="cpu", lora=AdapterConfig(r=8))
    inputs = chat_inputs(processor, [screenshot(seed=i % 4) for i in range(8)])
    model.train()
    times = []
    for _ in range(2):
        start = time.perf_counter()
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
        times.append(time.perf_counter() - start)
    trainable, total = parameter_counts(model)
    print(
        f"\ntiny qwen2_5_vl: {total / 1e6:.2f} M params ({trainable} LoRA), "
        f"small: {small.parameters / 1e6:.2f} M; "
        f"batch 8 x {inputs['input_ids'].shape[1]} tokens fwd+bwd {min(times):.3f} s (1 thread)"
    )
    assert small.parameters > 2 * (total - trainable)


@pytest.mark.parametrize("family", FAMILIES)
def test_patch_embedding_as_matmul_equals_the_convolution(model_dirs, family):
    model = AutoModelForImageTextToText.from_pretrained(model_dirs[family])
    processor = AutoProcessor.from_pretrained(model_dirs[family])
    pixels = chat_inputs(processor, [screenshot()])["pixel_values"].requires_grad_(True)
    embed = vision_tower(model).patch_embed
    conv = embed(pixels)
    (conv_grad,) = torch.autograd.grad(conv.square().sum(), embed.proj.weight)
    assert patch_embed_as_matmul(model) == 1
    fast = embed(pixels)
    (fast_grad,) = torch.autograd.grad(fast.square().sum(), embed.proj.weight)
    assert fast.shape == conv.shape
    torch.testing.assert_close(fast, conv, rtol=1e-5, atol=1e-5)
    # Summation order differs over N patches: compare the gradients as vectors.
    assert float((fast_grad - conv_grad).norm() / conv_grad.norm()) < 1e-5
    policy, _, _ = load_policy(model_dirs[family], device="cpu")
    assert "_patch_embed_forward" in repr(vision_tower(policy).patch_embed.forward)
