"""Shared-prefix loss pass: the prompt run once gives the plain pass's log-probs, loss and LoRA gradients."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image, ImageDraw

from gui_grpo.grpo.config import preset
from gui_grpo.grpo.loss import policy_loss
from gui_grpo.modeling.build import init_model
from gui_grpo.policy.logprobs import completion_stats
from gui_grpo.policy.model import AdapterConfig, load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.policy.shared_prefix import SharedPrefixBatch, SharedPrefixError, shared_prefix_stats
from gui_grpo.rollout.records import Step, png_bytes
from gui_grpo.train.config import config_from_dict
from gui_grpo.train.samples import Sample
from gui_grpo.train.trainer import Trainer

PROMPT = PromptConfig(max_pixels=28 * 28 * 24)
LENGTHS = (5, 9, 1, 7)  # G = 4 completions of different lengths, one of a single token


@pytest.fixture(scope="module")
def family_model(tmp_path_factory):
    """A tiny LoRA policy per family with a non-zero adapter (so gradients reach every LoRA matrix)."""
    built = {}

    def get(family: str):
        if family not in built:
            out = tmp_path_factory.mktemp(f"tiny-{family}")
            init_model(out, family=family, size="tiny", seed=0)
            model, processor, fam = load_policy(
                str(out), device="cpu", dtype="float32", lora=AdapterConfig(r=4, alpha=8)
            )
            torch.manual_seed(0)
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    torch.nn.init.normal_(p, std=0.05)
            built[family] = (model, processor, PromptBuilder(processor, fam, PROMPT), str(out))
        return built[family]

    return get


def screen(colour: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (280, 560), colour)
    ImageDraw.Draw(img).rectangle((20, 40, 160, 110), fill=(20, 60, 200))
    return img


def completions(lengths, seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(10, 400, (n,), generator=g).tolist() for n in lengths]


def loss_and_grads(model, stats_fn, old, adv, cfg):
    """Policy loss with a KL term (reference = adapter disabled) and the LoRA gradients it gives."""
    model.zero_grad(set_to_none=True)
    logp, mask, entropy = stats_fn()
    with torch.no_grad(), model.disable_adapter():
        ref = stats_fn().logp
    loss, metrics = policy_loss(logp, old, adv, mask, cfg, ref_logp=ref)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), metrics, logp.detach() * mask, entropy * mask, grads


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl"])
def test_shared_prefix_matches_the_plain_pass(family, family_model):
    model, processor, builder, _ = family_model(family)
    img = builder.resize(screen((235, 235, 245)))
    prompt = builder.build("Tap the blue button", [img], [], img.size)
    comps = completions(LENGTHS)
    lens = [len(c) for c in comps]
    plain = builder.encode([prompt] * len(comps), completions=comps)
    rows = torch.zeros(len(comps), dtype=torch.long)  # (G,): every completion follows prompt 0
    shared = SharedPrefixBatch(builder.encode([prompt]), rows, comps, processor.tokenizer.pad_token_id)
    assert (shared.prompts["mm_token_type_ids"] == 1).any()  # the prompt carries an image
    with torch.no_grad():
        width = max(lens)
        mask = completion_stats(model, plain, lens).mask
        # Behaviour log-probs off the current policy so the ratio is not 1 and clipping happens.
        old = completion_stats(model, plain, lens).logp + 0.3 * torch.randn(len(comps), width) * mask
    adv = torch.tensor([1.0, -0.5, 0.25, -0.75])
    cfg = dataclasses.replace(preset("grpo"), beta=0.04)
    a = loss_and_grads(model, lambda: completion_stats(model, plain, lens, 0.9, [3, 4]), old, adv, cfg)
    b = loss_and_grads(model, lambda: shared_prefix_stats(model, shared, 0.9, [3, 4]), old, adv, cfg)
    torch.testing.assert_close(b[2], a[2], atol=1e-5, rtol=0)  # log-probs
    torch.testing.assert_close(b[3], a[3], atol=1e-5, rtol=0)  # entropy
    torch.testing.assert_close(b[0], a[0], atol=1e-6, rtol=0)  # loss
    for key in ("approx_kl", "clip_frac_low", "clip_frac_high"):
        assert a[1][key] == pytest.approx(b[1][key], abs=1e-6), key
    assert a[1]["clip_frac_low"] + a[1]["clip_frac_high"] > 0  # the clipped branch is exercised
    assert a[4].keys() == b[4].keys() and len(a[4]) > 0
    assert sum(int((g != 0).any()) for g in a[4].values()) == len(a[4])  # every LoRA matrix gets gradient
    for name in a[4]:
        torch.testing.assert_close(b[4][name], a[4][name], atol=1e-5, rtol=1e-5, msg=name)


def test_wrong_positions_would_show(family_model):
    """The equality above is a real check: completion positions one step off change the log-probs."""
    model, processor, builder, _ = family_model("qwen2_5_vl")
    img = builder.resize(screen((235, 235, 245)))
    prompt = builder.build("Tap the blue button", [img], [], img.size)
    comps = completions((6, 6))
    enc = builder.encode([prompt])
    batch = SharedPrefixBatch(enc, torch.zeros(2, dtype=torch.long), comps, processor.tokenizer.pad_token_id)
    plain = builder.encode([prompt] * 2, completions=comps)
    with torch.no_grad():
        want = completion_stats(model, plain, [6, 6]).logp
        got = shared_prefix_stats(model, batch).logp
        enc["input_ids"] = torch.cat([enc["input_ids"][:, :1], enc["input_ids"]], dim=1)  # one more token
        for k in ("attention_mask", "mm_token_type_ids"):
            enc[k] = torch.cat([enc[k][:, :1], enc[k]], dim=1)
        shifted = shared_prefix_stats(model, batch).logp
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert (shifted - want).abs().max() > 1e-4


def test_several_prompts_of_different_lengths_in_one_batch(family_model):
    model, processor, builder, _ = family_model("qwen2_5_vl")
    img = builder.resize(screen((235, 235, 245)))
    other = builder.resize(screen((250, 240, 200)))
    p0 = builder.build("Tap OK", [img], [], img.size)
    p1 = builder.build("Open Settings, then turn on airplane mode", [other], ["tap(10, 20)"], other.size)
    rows = [0, 1, 0, 1, 0]  # prompts interleaved; left padding differs per prompt
    comps = completions((4, 8, 2, 1, 6), seed=1)
    lens = [len(c) for c in comps]
    plain = builder.encode([(p0, p1)[r] for r in rows], completions=comps)
    pad_id = processor.tokenizer.pad_token_id
    shared = SharedPrefixBatch(builder.encode([p0, p1]), torch.tensor(rows), comps, pad_id)
    assert (shared.prompts["attention_mask"] == 0).any()  # the shorter prompt is left-padded
    with torch.no_grad():
        a = completion_stats(model, plain, lens)
        b = shared_prefix_stats(model, shared)
    assert torch.equal(a.mask, b.mask)
    torch.testing.assert_close(b.logp, a.logp * a.mask, atol=1e-5, rtol=0)


def test_single_token_completions_need_no_second_forward(family_model):
    model, processor, builder, _ = family_model("qwen2_5_vl")
    img = builder.resize(screen((235, 235, 245)))
    prompt = builder.build("Tap OK", [img], [], img.size)
    comps = [[17], [42], [99]]
    batch = SharedPrefixBatch(builder.encode([prompt]), torch.zeros(3, dtype=torch.long), comps, 0)
    with torch.no_grad():
        want = completion_stats(model, builder.encode([prompt] * 3, completions=comps), [1, 1, 1])
        got = shared_prefix_stats(model, batch)
    assert got.logp.shape == (3, 1) and torch.equal(got.mask, want.mask)
    torch.testing.assert_close(got.logp, want.logp, atol=1e-5, rtol=0)


def test_malformed_batches_are_refused(family_model):
    _, processor, builder, _ = family_model("qwen2_5_vl")
    img = builder.resize(screen((235, 235, 245)))
    enc = builder.encode([builder.build("Tap OK", [img], [], img.size)])
    with pytest.raises(SharedPrefixError, match="at least one token"):
        SharedPrefixBatch(enc, torch.zeros(2, dtype=torch.long), [[5], []], 0)
    with pytest.raises(SharedPrefixError, match="outside"):
        SharedPrefixBatch(enc, torch.tensor([0, 1]), [[5], [6]], 0)
    with pytest.raises(SharedPrefixError, match="completions for"):
        SharedPrefixBatch(enc, torch.tensor([0]), [[5], [6]], 0)


def group_samples(builder, n: int, lengths, image: Image.Image, instruction: str, seed: int) -> list[Sample]:
    prompt = builder.build(instruction, [image], [], image.size)
    builder.encode([prompt])  # sets the model image size
    pngs = [png_bytes(image)]
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, ids in enumerate(completions(lengths[:n], seed)):
        logps = (-torch.rand(len(ids), generator=g) * 3).tolist()
        step = Step(prompt.text, pngs, image.size, prompt.model_image_size, ids, logps, "", "", True)
        out.append(Sample(step, advantage=(-1.0) ** i * (i + 1) / n, weight=1.0))
    return out


def test_trainer_shares_prompts_in_the_loss_pass(family_model, tmp_path, monkeypatch):
    import gui_grpo.train.loss_pass as loss_pass_module

    calls = []
    real = loss_pass_module.shared_prefix_stats
    spy = lambda *a, **k: calls.append(1) or real(*a, **k)  # noqa: E731
    monkeypatch.setattr(loss_pass_module, "shared_prefix_stats", spy)
    _, _, builder, model_dir = family_model("qwen2_5_vl")
    cfg = config_from_dict(
        {
            "model": model_dir,
            "out": str(tmp_path),
            "device": "cpu",
            "dtype": "float32",
            "progress_bar": False,
            "prompt": dataclasses.asdict(PROMPT),
            "lora": {"r": 4, "alpha": 8},
            "loss": {"preset": "grpo", "overrides": {"beta": 0.04}},
        }
    )
    trainer = Trainer(cfg)
    for name, p in trainer.model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    img = builder.resize(screen((235, 235, 245)))
    group = group_samples(trainer.policy.builder, 4, LENGTHS, img, "Tap OK", seed=0)
    single = group_samples(trainer.policy.builder, 1, (3,), img, "Tap Cancel", seed=1)
    chunk = group[:2] + single + group[2:]
    batches = trainer.loss_pass.micro_batches(chunk)
    assert batches == [group + single]  # one micro-batch, the group's samples side by side

    results = {}
    for share in (True, False):
        trainer.loss_pass.share_prompts = share
        trainer.model.zero_grad(set_to_none=True)
        loss, metrics = trainer.loss_pass.micro_loss(chunk)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
        results[share] = (loss.detach(), metrics, grads)
    assert len(calls) == 2  # policy and reference pass, with share_prompts on only
    torch.testing.assert_close(results[True][0], results[False][0], atol=1e-6, rtol=0)
    assert results[True][1]["approx_kl"] == pytest.approx(results[False][1]["approx_kl"], abs=1e-6)
    for name, g in results[False][2].items():
        torch.testing.assert_close(results[True][2][name], g, atol=1e-5, rtol=1e-5, msg=name)


def test_micro_batches_count_a_shared_prompt_once(family_model, tmp_path):
    _, _, builder, model_dir = family_model("qwen2_5_vl")
    img = builder.resize(screen((235, 235, 245)))
    group = group_samples(builder, 4, (8, 8, 8, 8), img, "Tap OK", seed=0)
    prompt_cost = len(group[0].step.prompt_text) // 3
    budget = prompt_cost + 3 * 8  # room for the prompt once and three completions, not four
    cfg = config_from_dict(
        {"model": model_dir, "out": str(tmp_path), "device": "cpu", "progress_bar": False,
         "prompt": dataclasses.asdict(PROMPT), "optim": {"micro_batch_tokens": budget}}
    )
    trainer = Trainer(cfg)
    assert trainer.loss_pass.micro_batches(group) == [group[:3], group[3:]]


def sampled_group_update(model_dir: str, tmp_path, reuse: bool, micro_batch_tokens: int) -> dict:
    """Sample G = 4 completions of two prompts in one call, then one update; its (clipped) LoRA gradients.

    Gradients, not the updated weights: AdamW turns rounding-level gradients into lr-sized steps."""
    from gui_grpo.rollout.step import episode_seed

    cfg = config_from_dict(
        {
            "model": model_dir,
            "out": str(tmp_path / f"run-{reuse}-{micro_batch_tokens}"),
            "device": "cpu",
            "dtype": "float32",
            "progress_bar": False,
            "prompt": dataclasses.asdict(PROMPT),
            "lora": {"r": 4, "alpha": 8},
            "rollout": {"max_new_tokens": 6},
            "optim": {"lr": 1e-2, "reuse_prefill": reuse, "micro_batch_tokens": micro_batch_tokens},
        }
    )
    trainer = Trainer(cfg)
    torch.manual_seed(0)
    for name, p in trainer.model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    builder = trainer.policy.builder
    images = [builder.resize(screen((235, 235, 245))), builder.resize(screen((40, 40, 40)))]
    texts = ("Tap OK", "Open Settings now")
    prompts = [builder.build(t, [im], [], im.size) for t, im in zip(texts, images, strict=True)]
    seeds = [[episode_seed(0, 0, g, m, 0) for m in range(4)] for g in range(2)]
    # Through the trainer's policy: it hands a prompt sampled G times to the loss pass's store.
    flat = trainer.policy.sample([p for p in prompts for _ in range(4)], [s for row in seeds for s in row],
                                 greedy=False, max_batch=8)
    rows = [flat[:4], flat[4:]]
    assert bool(trainer.loss_pass.kept) == reuse
    samples = []
    for prompt, image, comps in zip(prompts, images, rows, strict=True):
        for i, c in enumerate(comps):
            step = Step(prompt.text, [png_bytes(image)], image.size, prompt.model_image_size, c.token_ids,
                        c.logprobs, c.text, "", True, prompt_tokens=c.prompt_tokens)
            samples.append(Sample(step, advantage=(-1.0) ** i * (i + 1) / 4, weight=1.0))
    if reuse:  # every micro-batch must take the kept prefill, never a prompt pass of its own
        again = lambda chunk: pytest.fail("a micro-batch ran its prompt again")  # noqa: E731
        trainer.loss_pass.encode_chunk = trainer.loss_pass.encode_prefix_batch = again
    metrics = trainer.update(samples)
    assert not trainer.loss_pass.kept  # the update drops the kept graphs
    assert metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-5)  # on-policy: the recorded log-probs
    return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("micro_batch_tokens", [16384, 1])
def test_reusing_the_sampling_prefill_gives_the_same_update(family_model, tmp_path, micro_batch_tokens):
    """One micro-batch, or one per sample (the kept prefill then serves several backward passes)."""
    _, _, _, model_dir = family_model("qwen2_5_vl")
    reused = sampled_group_update(model_dir, tmp_path, True, micro_batch_tokens)
    plain = sampled_group_update(model_dir, tmp_path, False, micro_batch_tokens)
    for name, g in plain.items():
        torch.testing.assert_close(reused[name], g, atol=1e-6, rtol=1e-4, msg=name)
