"""Supervised warm start: demo recording round trip, completion-only loss, training, saving, errors."""

from __future__ import annotations

import argparse
import json
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from transformers import AutoProcessor

from gui_grpo.cli import sft as sft_command
from gui_grpo.cli.main import UserError
from gui_grpo.modeling.build import init_model
from gui_grpo.policy.actions import parse_action
from gui_grpo.policy.logprobs import completion_logprobs
from gui_grpo.policy.model import AdapterConfig, load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.train.demos import (
    STOP_TOKEN,
    DemoError,
    DemoSet,
    build_manifest,
    load_demos,
    record_demos,
    write_demos,
)
from gui_grpo.train.sft import SftConfig, SftTrainer, completion_ids, sft_loss

PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=40_000)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return init_model(tmp_path_factory.mktemp("models") / "tiny", seed=0).path


@pytest.fixture(scope="module")
def demo_dir(tiny, tmp_path_factory):
    builder = PromptBuilder(AutoProcessor.from_pretrained(tiny), "qwen2_5_vl", PROMPT)
    demos, episodes = record_demos(builder, suite="smoke", split="train", seeds=1)
    manifest = build_manifest(builder, suite="smoke", split="train", seeds=1, model=str(tiny))
    return write_demos(tmp_path_factory.mktemp("demos") / "smoke", demos, episodes, manifest)


@pytest.fixture(scope="module")
def demo_set(demo_dir) -> DemoSet:
    return load_demos(demo_dir)


def test_demos_round_trip(demo_dir, demo_set, tiny):
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    assert manifest["family"] == "qwen2_5_vl" and manifest["suite"] == "smoke"
    assert manifest["prompt"]["observation"] == "pixels+elements"
    assert manifest["kept_episodes"] == manifest["episodes"] == 4  # one per smoke template
    assert not demo_dir.with_name(demo_dir.name + ".tmp").exists()
    tok = AutoProcessor.from_pretrained(tiny).tokenizer
    indexed = 0
    for d in demo_set.demos:
        assert d.target_text.endswith(STOP_TOKEN)
        assert completion_ids(d, tok)[-1] == tok.convert_tokens_to_ids(STOP_TOKEN)
        parsed = parse_action(
            d.action_text,
            family="qwen2_5_vl",
            image_size=d.model_image_size,
            screen_size=d.screen_size,
            elements=d.elements,
            action_format="json",
        )
        assert repr(parsed) == d.action  # the oracle's own action, exactly
        indexed += '"index"' in d.action_text
        prompt = d.prompt()
        assert prompt.images[0].size == d.model_image_size
        assert "Task: " + d.instruction in d.prompt_text
    assert indexed >= 4  # taps are written as element indices
    # The history a later step shows is the earlier targets, as rollouts write it.
    second = next(d for d in demo_set.demos if d.step == 1)
    assert 'Step 1: {"action": "open", "text": "Settings"}' in second.prompt_text


def test_record_demos_keeps_to_the_templates_asked_for(tiny):
    builder = PromptBuilder(AutoProcessor.from_pretrained(tiny), "qwen2_5_vl", PROMPT)
    demos, episodes = record_demos(
        builder, suite="smoke", split="train", seeds=2, templates=["settings.wifi_off"]
    )
    assert [e["template"] for e in episodes] == ["settings.wifi_off"] * 2
    assert demos and all(d.task.startswith("settings.wifi_off:") for d in demos)
    with pytest.raises(DemoError, match="not a smoke/train template: clock.alarm_on"):
        record_demos(builder, suite="smoke", split="train", seeds=1, templates=["clock.alarm_on"])


def test_loss_uses_completion_positions_only(tiny, demo_set):
    model, processor, family = load_policy(tiny, device="cpu")
    builder = PromptBuilder(processor, family, PROMPT)
    demos = demo_set.demos[:2]
    comps = [completion_ids(d, processor.tokenizer) for d in demos]
    comps[1] = comps[1][-3:]  # ragged: row 1's earlier columns are prompt positions
    batch = builder.encode([d.prompt() for d in demos], completions=comps)
    captured = {}
    hook = model.lm_head.register_forward_hook(lambda m, i, o: captured.update(logits=o) or o.retain_grad())
    total, n = sft_loss(model, batch, [len(c) for c in comps])
    hook.remove()
    total.backward()
    grad = captured["logits"].grad.abs().sum(-1)  # (B, C + 1)
    width = max(len(c) for c in comps)
    assert n == sum(len(c) for c in comps)
    assert grad.shape[1] == width + 1  # logits exist only for the last C + 1 positions
    assert torch.all(grad[0, :-1] > 0) and grad[0, -1] == 0
    short = len(comps[1])
    assert torch.all(grad[1, : width - short] == 0)  # prompt positions of the shorter row
    assert torch.all(grad[1, width - short : -1] > 0)
    # Equal to the usual labels=-100 masking over a full forward pass.
    with torch.no_grad():
        logits = model(**batch, use_cache=False).logits[:, :-1].float()  # (B, T-1, V)
        labels = batch["input_ids"][:, 1:].clone()  # (B, T-1)
        keep = torch.zeros_like(labels, dtype=torch.bool)
        for i, c in enumerate(comps):
            keep[i, labels.shape[1] - len(c) :] = True
        labels[~keep] = -100
        ref = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, reduction="sum")
    assert torch.allclose(total.detach(), ref, rtol=1e-4)


def _mean_loss(trainer: SftTrainer) -> float:
    with torch.no_grad():
        nll = sum(
            float(sft_loss(trainer.model, trainer.builder.encode([d.prompt()], [ids]), [len(ids)])[0])
            for d, ids in trainer.items
        )
    return nll / sum(len(ids) for _, ids in trainer.items)


def test_sft_reduces_loss_and_saves_a_loadable_base(tiny, demo_set, tmp_path):
    cfg = SftConfig(model=str(tiny), out=str(tmp_path / "warm"), epochs=3, batch_size=4, micro_batch=2)
    trainer = SftTrainer(cfg, demo_set)
    assert trainer.full  # a tiny random model is trained in full
    before = _mean_loss(trainer)
    history = trainer.train(log=lambda _: None)
    after = _mean_loss(trainer)
    assert len(history) == 3 and after < 0.7 * before
    out = trainer.save({"epochs": history})
    assert (out / "sft.json").is_file() and not (out / "adapter_config.json").exists()
    reloaded = load_policy(out, device="cpu")
    assert reloaded.family == "qwen2_5_vl"
    for (name, p), q in zip(
        trainer.model.state_dict().items(), reloaded.model.state_dict().values(), strict=True
    ):
        assert torch.equal(p, q), name


def test_time_budget_stops_training_within_an_epoch(tiny, demo_set, tmp_path):
    # One demo step per batch, so an epoch is several optimizer steps; a budget of about 0.3 s ends the
    # first epoch part-way (the check runs before each batch) instead of running it, or more, to the end.
    cfg = SftConfig(model=str(tiny), out=str(tmp_path / "warm"), epochs=5, batch_size=1, micro_batch=1,
                    max_minutes=0.005)
    trainer = SftTrainer(cfg, demo_set)
    lines: list[str] = []
    history = trainer.train(log=lines.append)
    assert len(trainer.items) >= 4
    assert len(history) == 1 and history[0]["seconds"] < 0.3 + 5.0  # at most one batch past the budget
    assert lines == [lines[0]] and "cut short by the time budget" in lines[0]
    assert torch.isfinite(torch.tensor(history[0]["loss"]))


def test_lora_warm_start_is_merged_by_load_policy(tiny, demo_set, tmp_path):
    cfg = SftConfig(
        model=str(tiny), out=str(tmp_path / "adapter"), epochs=1, adapter=AdapterConfig(r=4), lr=1e-2
    )
    trainer = SftTrainer(cfg, demo_set)
    trainer.train(log=lambda _: None)
    out = trainer.save({})
    assert (out / "adapter_config.json").is_file()
    d, ids = trainer.items[0]
    batch = trainer.builder.encode([d.prompt()], [ids])
    merged = load_policy(tiny, device="cpu", adapter=out, lora=AdapterConfig(r=4)).model
    base = load_policy(tiny, device="cpu").model
    with torch.no_grad():
        want = completion_logprobs(trainer.model, batch, [len(ids)])[0]
        got = completion_logprobs(merged, batch, [len(ids)])[0]  # fresh GRPO LoRA: B = 0, no change
        with merged.disable_adapter():
            reference = completion_logprobs(merged, batch, [len(ids)])[0]
        untouched = completion_logprobs(base, batch, [len(ids)])[0]
    assert torch.allclose(got, want, atol=1e-4) and torch.allclose(reference, want, atol=1e-4)
    assert not torch.allclose(untouched, want, atol=1e-3)


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sft_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_commands_end_to_end(tiny, tmp_path, capsys):
    demos = tmp_path / "demos"
    assert _cli(["demos", "--model", str(tiny), "--suite", "smoke", "--seeds", "1", "--out", str(demos)]) == 0
    argv = ["sft", "--model", str(tiny), "--demos", str(demos), "--out", str(tmp_path / "warm")]
    assert _cli(argv + ["--epochs", "1", "--eval-instances", "1"]) == 0
    out = capsys.readouterr().out
    assert "before: greedy success" in out and "gui-grpo train --model" in out
    summary = json.loads((tmp_path / "warm" / "sft.json").read_text())
    assert summary["full"] and summary["prompt"]["action_format"] == "json"
    assert summary["eval_after"]["success_rate"] in (0.0, 1.0)


def test_bad_inputs_are_one_line_user_errors(tiny, demo_dir, tmp_path):
    with pytest.raises(UserError) as missing:
        _cli(["sft", "--model", str(tiny), "--demos", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert "no manifest.json" in str(missing.value) and "\n" not in str(missing.value)
    other = tmp_path / "other"
    shutil.copytree(demo_dir, other)
    manifest = json.loads((other / "manifest.json").read_text())
    (other / "manifest.json").write_text(json.dumps({**manifest, "family": "qwen3_vl"}))
    with pytest.raises(UserError) as family:
        _cli(["sft", "--model", str(tiny), "--demos", str(other), "--out", str(tmp_path / "o")])
    assert "recorded for qwen3_vl" in str(family.value) and "\n" not in str(family.value)
    with pytest.raises(UserError, match="does not exist"):
        _cli(["demos", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "d")])
    with pytest.raises(UserError, match="unknown suite"):
        _cli(["demos", "--model", str(tiny), "--suite", "nope", "--out", str(tmp_path / "d")])
