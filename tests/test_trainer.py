"""The GRPO trainer on a tiny model: an update moves log-probs the way advantages say; runs are saved."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from gui_grpo.grpo.config import ConfigError, RewardConfig, preset
from gui_grpo.policy.logprobs import completion_logprobs
from gui_grpo.policy.prompts import PromptConfig
from gui_grpo.train.config import TrainConfig, apply_overrides, config_from_dict
from gui_grpo.train.samples import Sample, make_samples, rebuild_prompt
from gui_grpo.train.trainer import Trainer

PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=28 * 28 * 24)


def config(model: str, out: str, **overrides) -> TrainConfig:
    """A tiny run; ``overrides`` are dotted paths with ``__`` for dots (``optim__lr=1e-3``)."""
    base = {
        "model": model,
        "out": out,
        "steps": 1,
        "rollout": {"groups_per_step": 1, "group_size": 2, "max_new_tokens": 16, "max_steps": 2},
        "prompt": dataclasses.asdict(PROMPT),
        "device": "cpu",
        "dtype": "float32",
        "progress_bar": False,
        "optim": {"lr": 5e-3},
    }
    return config_from_dict(apply_overrides(base, {k.replace("__", "."): v for k, v in overrides.items()}))


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
    trainer = Trainer(config(tiny_model_dir, str(tmp_path), loss__preset=loss, lora__full_finetune=True))
    results = trainer.collect(step=0)
    steps = [s for r in results for s in r.steps][:2]
    good, bad = Sample(steps[0], 1.0, 1.0), Sample(steps[1], -1.0, 1.0)
    before = seq_logp(trainer, good), seq_logp(trainer, bad)
    metrics = trainer.update([good, bad])
    after = seq_logp(trainer, good), seq_logp(trainer, bad)
    assert after[0] > before[0] and after[1] < before[1]
    assert {"loss", "grad_norm", "approx_kl", "entropy", "clip_frac_low", "clip_frac_high"} <= set(metrics)
    assert metrics["entropy"] > 0


def test_make_samples_weights_and_drops():
    class R:  # the fields make_samples reads
        def __init__(self, group, n, lost=None):
            self.group, self.steps, self.lost = group, [SimpleNamespace(valid=True)] * n, lost
            self.score, self.replayed, self.progress_end = 0.0, False, 0.0

    results = [R(0, 2), R(0, 4), R(1, 3), R(1, 3, lost="DeviceUnreachable")]
    samples, stats = make_samples(results, [1.0, 0.0, 0.5, 0.5], preset("dapo"), RewardConfig())
    # Group 1 has equal rewards and DAPO drops it; the lost episode never counts.
    assert len(samples) == 6 and stats["frac_reward_zero_std"] == 0.5
    assert [s.weight for s in samples] == [0.5] * 2 + [0.25] * 4
    assert samples[0].advantage > 0 > samples[-1].advantage


def test_invalid_steps_never_share_a_successful_episode_advantage():
    # Group 0: a success whose second step was an invalid output, and a failure. The success's valid steps
    # are reinforced; its invalid step is pushed down (to -1), as are the failure's steps.
    steps = [SimpleNamespace(valid=True), SimpleNamespace(valid=False), SimpleNamespace(valid=True)]
    failed = [SimpleNamespace(valid=False), SimpleNamespace(valid=True)]
    results = [SimpleNamespace(group=0, steps=s, lost=None, score=float(s is steps), replayed=False,
                               progress_end=0.0) for s in (steps, failed)]
    samples, _ = make_samples(results, [1.0, 0.0], preset("grpo"), RewardConfig())
    adv = [s.advantage for s in samples]
    assert adv[0] == adv[2] > 0 and adv[1] == -1.0
    assert adv[3] == -1.0 and adv[4] == pytest.approx(-adv[0])  # the failure's valid step keeps its own
    plain, _ = make_samples(results, [1.0, 0.0], preset("grpo"), RewardConfig(invalid_step_advantage=None))
    assert [s.advantage for s in plain][:3] == [adv[0]] * 3
    with pytest.raises(ConfigError, match="must be <= 0"):
        RewardConfig(invalid_step_advantage=0.5)


def test_train_writes_config_metrics_and_final_checkpoint(tiny_model_dir, tmp_path):
    trainer = Trainer(config(tiny_model_dir, str(tmp_path / "run"), lora__r=4))
    history = trainer.train()
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["rollout"]["group_size"] == 2
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
        "false_completion_rate",
        "entropy",
        "grad_norm",
        "approx_kl",
        "rollout_s",
        "learn_s",
        "samples_per_s",
        "skipped_steps",
    ):
        assert key in rows[0]
    assert (run / "final" / "adapter_config.json").is_file()
    assert not list(run.glob("**/*.tmp")) and not list(run.glob("**/.tmp-*"))
    assert (run / "checkpoints" / "step-000001" / "trainer_state.pt").is_file()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--model", "/nonexistent/model"], "does not exist"),
        (["train", "--set", "steps=2"], "--model"),
        (["train", "--preset", "smoke", "--lr", "0.1"], "only --out, --seed and --no-progress"),
        (["train", "--model", ".", "--group-size", "1"], "group_size"),
    ],
)
def test_train_cli_rejects_bad_input_in_one_line(argv, message):
    proc = subprocess.run(
        [sys.executable, "-m", "gui_grpo", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_non_finite_loss_skips_the_step(tiny_model_dir, tmp_path, monkeypatch):
    trainer = Trainer(config(tiny_model_dir, str(tmp_path), lora__r=4))
    results = trainer.collect(step=0)
    steps = [st for r in results for st in r.steps]
    samples = [Sample(s, 1.0 if i % 2 else -1.0, 1.0) for i, s in enumerate(steps)]
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    real = trainer.loss_pass.micro_loss

    def poisoned(chunk, *kept):
        loss, m = real(chunk, *kept)
        return loss * float("nan"), {**m, "loss": float("nan")}

    monkeypatch.setattr(trainer.loss_pass, "micro_loss", poisoned)
    metrics = trainer.update(samples)
    assert trainer.skipped_steps == 1 and not torch.isfinite(torch.tensor(metrics["grad_norm"]))
    for n, p in trainer.model.named_parameters():
        if p.requires_grad:
            assert torch.equal(p.detach(), before[n]), n
    assert all(s == {} for s in trainer.optimizer.state.values())  # Adam moments untouched too
    monkeypatch.setattr(trainer.loss_pass, "micro_loss", real)
    trainer.update(samples)
    assert trainer.skipped_steps == 1
    after = _trainable(trainer)
    assert any(not torch.equal(after[n], before[n]) for n in before)


def _trainable(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}


def token_rewards(results, reward_cfg):
    """A deterministic reward that differs between samples (an untrained model's episodes all fail alike)."""
    return [sum(s.completion_ids[0] for s in r.steps) % 7 / 7 for r in results]


def test_resume_continues_exactly(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("gui_grpo.train.trainer.score_episodes", token_rewards)
    kw = dict(steps=4, lora__r=4, optim__lr_schedule="cosine", optim__warmup_steps=1)
    kw["optim__weight_decay"] = 0.01
    straight = Trainer(config(tiny_model_dir, str(tmp_path / "a"), **kw))
    rows_a = straight.train()
    first = Trainer(config(tiny_model_dir, str(tmp_path / "b"), **kw))
    first.train(until=2)
    halfway = _trainable(first)
    assert not (tmp_path / "b" / "final").exists()
    resumed = Trainer.resume(tmp_path / "b")
    assert resumed.step == 2
    rows_b = resumed.train()
    a, b = _trainable(straight), _trainable(resumed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    # The last two steps did change the weights, and learnt something (LoRA B starts at zero).
    assert any(not torch.equal(b[n], halfway[n]) for n in b)
    assert any(r["reward_std"] > 0 for r in rows_a) and max(float(t.abs().max()) for t in b.values()) > 0
    assert [r["reward_mean"] for r in rows_a[2:]] == [r["reward_mean"] for r in rows_b]
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 4
    # Every row is stamped; the resumed run's clock continues from where the first one stopped.
    logged = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert all(r["time"] > 1.7e9 for r in logged)
    elapsed = [r["elapsed_s"] for r in logged]
    assert elapsed == sorted(elapsed) and elapsed[0] > 0


YAML = """
model: {model}
out: {out}
steps: 3
rollout:
  group_size: 3
  temperature: 0.7
optim:
  lr: 3e-5
loss:
  preset: dapo
  overrides: {{beta: 0.0}}
reward:
  invalid_action_penalty: 0.2
prompt:
  observation: pixels+elements
"""


def test_config_loads_yaml_and_applies_overrides(tmp_path):
    from gui_grpo.train.config import load_config

    path = tmp_path / "run.yaml"
    path.write_text(YAML.format(model="m", out=str(tmp_path / "o")))
    cfg = load_config(path, {"optim.lr": 1e-3, "rollout.groups_per_step": 5})
    assert cfg.optim.lr == 1e-3 and cfg.rollout.groups_per_step == 5 and cfg.rollout.group_size == 3
    assert cfg.reward.invalid_action_penalty == 0.2 and cfg.prompt.observation == "pixels+elements"
    assert cfg.loss_config().eps_high == 0.28
    again = config_from_dict(json.loads(cfg.to_json()))
    assert again == cfg


@pytest.mark.parametrize(
    "data,message",
    [
        ({"model": "m", "stepz": 3}, "unknown config key(s) stepz"),
        ({"model": "m", "optim": {"lr": 1e-3, "betas": 1}}, "optim.betas"),
        ({"model": "m", "rollout": {"group_size": 1}}, "rollout.group_size=1"),
        ({"model": "m", "loss": {"preset": "ppo"}}, "loss.preset='ppo' is not one of"),
        ({"model": "m", "optim": {"lr_schedule": "linear"}}, "'constant', 'cosine'"),
        ({"model": "m", "steps": "many"}, "steps='many' must be a whole number"),
        ({"model": "m", "loss": {"overrides": {"beta": -1}}}, "beta=-1"),
        ({"model": "m", "loss": {"beta": 0.04}}, "--set loss.overrides.beta=VALUE"),
        ({"model": "m", "prompt": {"observation": "text"}}, "observation"),
        ({"out": "x"}, "missing config key(s) model"),
    ],
)
def test_config_errors_say_what_to_fix(data, message):
    from gui_grpo.train.config import ConfigError

    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    assert message in str(err.value)


def test_one_adapter_config_and_the_step_cap_under_one_name(caplog):
    """The lora section is the AdapterConfig load_policy takes; an old run's rollout.max_steps_per_episode
    still loads, as rollout.max_steps, and says so."""
    from gui_grpo.policy.model import AdapterConfig

    lora = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    cfg = config_from_dict({"model": "m", "lora": lora})
    assert cfg.lora == AdapterConfig(r=4, alpha=8, target_modules=("q_proj", "v_proj"))
    assert config_from_dict(json.loads(cfg.to_json())) == cfg
    with caplog.at_level("WARNING"):
        old = config_from_dict({"model": "m", "rollout": {"max_steps_per_episode": 3}})
    assert old.rollout.max_steps == 3 and "now called rollout.max_steps" in caplog.text
    with pytest.raises(ConfigError, match="lora r must be >= 1"):
        config_from_dict({"model": "m", "lora": {"r": 0}})
    with pytest.raises(ConfigError, match="give only max_steps"):
        config_from_dict({"model": "m", "rollout": {"max_steps_per_episode": 3, "max_steps": 2}})


def test_loss_fields_are_set_through_overrides():
    cfg = config_from_dict(apply_overrides({"model": "m"}, {"loss.overrides.beta": 0.04}))
    assert cfg.loss_config().beta == 0.04


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gui_grpo", *argv], capture_output=True, text=True, timeout=180
    )


def test_train_cli_rejects_bad_config_devices_and_resume(tiny_model_dir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"model: {tiny_model_dir}\noptim:\n  learning_rate: 1\n")
    cases = [
        (["train", "--config", str(bad)], "optim.learning_rate"),
        (["train", "--config", str(tmp_path / "none.yaml")], "does not exist"),
        (["train", "--model", tiny_model_dir, "--set", "rollout.colour=red"], "rollout.colour"),
        (["train", "--model", tiny_model_dir, "--devices", "adb:127.0.0.1:1"], "sim:N"),
        (["train", "--model", tiny_model_dir, "--offline", str(tmp_path / "x.jsonl")], "offline dataset"),
        (["train", "--resume", str(tmp_path)], "no complete checkpoint"),
    ]
    for argv, message in cases:
        proc = _cli(*argv)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (argv, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_shared_prompt_encoding_gives_the_same_logprobs(tiny_model_dir, tmp_path):
    from gui_grpo.policy.logprobs import completion_stats

    trainer = Trainer(config(tiny_model_dir, str(tmp_path), lora__r=4, rollout__group_size=3))
    chunk = [Sample(s, 0.0, 1.0) for r in trainer.collect(step=0) for s in r.steps]
    keys = {(s.step.prompt_text, tuple(s.step.images_png)) for s in chunk}
    assert len(keys) < len(chunk)  # the group's first steps share their prompt
    lens = [len(s.step.completion_ids) for s in chunk]
    shared = trainer.loss_pass.encode_chunk(chunk)
    assert "pixel_values" not in shared and "mm_encoder_outputs" in shared
    plain = trainer.policy.builder.encode(
        [rebuild_prompt(s.step) for s in chunk], completions=[s.step.completion_ids for s in chunk]
    )
    with torch.no_grad():
        a = completion_stats(trainer.model, shared, lens)
        b = completion_stats(trainer.model, plain, lens)
    assert torch.equal(a.mask, b.mask)
    assert torch.allclose(a.logp * a.mask, b.logp * b.mask, atol=1e-5)
