"""The GRPO trainer on a tiny model: an update moves log-probs the way advantages say; runs are saved."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gui_grpo.config import TrainConfig
from gui_grpo.grpo.config import RewardConfig, preset
from gui_grpo.logprobs import completion_logprobs
from gui_grpo.prompts import PromptConfig
from gui_grpo.trainer import Sample, Trainer, make_samples, rebuild_prompt

PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=28 * 28 * 24)


def config(model: str, out: str, **kw) -> TrainConfig:
    base = dict(
        model=model,
        out=out,
        steps=1,
        groups_per_step=1,
        group_size=2,
        max_new_tokens=16,
        max_steps_per_episode=2,
        prompt=PROMPT,
        device="cpu",
        dtype="float32",
        lr=5e-3,
    )
    base.update(kw)
    return TrainConfig(**base)


def seq_logp(trainer: Trainer, sample: Sample) -> float:
    batch = trainer.policy.builder.encode(
        [rebuild_prompt(sample.step)], completions=[sample.step.completion_ids]
    )
    with torch.no_grad():
        logp, mask = completion_logprobs(trainer.model, batch, [len(sample.step.completion_ids)])
    return float((logp * mask).sum())


@pytest.mark.parametrize("loss", ["grpo", "dapo", "gspo"])
def test_update_follows_the_advantages(tiny_model_dir, tmp_path, loss):
    torch.manual_seed(0)
    trainer = Trainer(config(tiny_model_dir, str(tmp_path), loss=loss, full_finetune=True))
    results = trainer.collect(step=0)
    steps = [s for r in results for s in r.steps][:2]
    good, bad = Sample(steps[0], 1.0, 1.0), Sample(steps[1], -1.0, 1.0)
    before = seq_logp(trainer, good), seq_logp(trainer, bad)
    metrics = trainer.update([good, bad])
    after = seq_logp(trainer, good), seq_logp(trainer, bad)
    assert after[0] > before[0] and after[1] < before[1]
    assert {"loss", "grad_norm", "approx_kl"} <= set(metrics)


def test_make_samples_weights_and_drops():
    class R:  # the fields make_samples reads
        def __init__(self, group, n, lost=None):
            self.group, self.steps, self.lost = group, [object()] * n, lost

    results = [R(0, 2), R(0, 4), R(1, 3), R(1, 3, lost="DeviceUnreachable")]
    samples, stats = make_samples(results, [1.0, 0.0, 0.5, 0.5], preset("dapo"), RewardConfig())
    # Group 1 has equal rewards and DAPO drops it; the lost episode never counts.
    assert len(samples) == 6 and stats["frac_reward_zero_std"] == 0.5
    assert [s.weight for s in samples] == [0.5] * 2 + [0.25] * 4
    assert samples[0].advantage > 0 > samples[-1].advantage


def test_train_writes_config_metrics_and_final_checkpoint(tiny_model_dir, tmp_path):
    trainer = Trainer(config(tiny_model_dir, str(tmp_path / "run"), lora_r=4))
    history = trainer.train()
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["group_size"] == 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows == history and len(rows) == 1
    for key in (
        "reward_mean",
        "reward_std",
        "success_rate",
        "invalid_action_rate",
        "frac_reward_zero_std",
        "completion_length",
        "episode_length",
    ):
        assert key in rows[0]
    assert (run / "final" / "adapter_config.json").is_file()
    assert not list(run.glob("**/*.tmp"))


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--model", "/nonexistent/model"], "does not exist"),
        (["train"], "--model"),
        (["train", "--model", ".", "--group-size", "1"], "group_size"),
    ],
)
def test_train_cli_rejects_bad_input_in_one_line(argv, message):
    proc = subprocess.run(
        [sys.executable, "-m", "gui_grpo", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
