"""Offline step-level GRPO: the dataset format, the action reward, the oracle export and training on it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emulators.actions import Answer, Key, LongPress, OpenApp, Swipe, Tap, Terminate, Type, Wait
from gui_grpo.policy.actions import Invalid
from gui_grpo.train.config import apply_overrides, config_from_dict
from gui_grpo.train.offline import (
    GroundTruth,
    OfflineFormatError,
    action_reward,
    export_oracle_records,
    load_records,
)
from gui_grpo.train.trainer import Trainer

CLICK = GroundTruth("click", bounds=(10, 20, 110, 60), point=(60, 40), index=2)


@pytest.mark.parametrize(
    "pred,truth,reward",
    [
        (Tap(60, 40), CLICK, 1.0),
        (Tap(10, 60), CLICK, 1.0),  # bounds are inclusive
        (Tap(111, 40), CLICK, 0.4),  # right type, off target
        (LongPress(60, 40), CLICK, 0.1),  # wrong type
        (Invalid("no tool call", "hello"), CLICK, 0.0),
        (Type("Ana  Díaz"), GroundTruth("type", text="ana díaz"), 1.0),
        (Type("Ana"), GroundTruth("type", text="Ana Díaz"), 0.4),
        (Swipe(100, 500, 100, 100), GroundTruth("swipe", direction="up"), 1.0),
        (Swipe(100, 100, 400, 120), GroundTruth("swipe", direction="up"), 0.4),
        (Key("BACK"), GroundTruth("key", text="KEYCODE_BACK"), 1.0),
        (OpenApp("settings"), GroundTruth("open", text="Settings"), 1.0),
        (Terminate("success"), GroundTruth("terminate", text="success"), 1.0),
        (Terminate("failure"), GroundTruth("terminate", text="success"), 0.4),
        (Answer("42"), GroundTruth("answer", text="42"), 1.0),
        (Wait(1.0), GroundTruth("wait"), 1.0),
    ],
)
def test_action_reward(pred, truth, reward):
    assert action_reward(pred, truth) == pytest.approx(reward)


def test_bad_records_name_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    good = {"id": "a", "screenshot": "x.png", "instruction": "Tap OK", "action": {"type": "wait"}}
    bad = {**good, "action": {"type": "click"}}
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(OfflineFormatError, match=r"d.jsonl:2: .*needs action.bounds"):
        load_records(path)
    path.write_text(json.dumps({**good, "action": {"type": "tap"}}) + "\n")
    with pytest.raises(OfflineFormatError, match="'tap' is not one of"):
        load_records(path)
    with pytest.raises(OfflineFormatError, match="does not exist"):
        load_records(tmp_path / "missing.jsonl")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("offline")
    path, counts = export_oracle_records(out, suite="smoke", split="train", seeds=1)
    assert counts["solved"] == counts["episodes"] > 0 and counts["records"] > counts["episodes"]
    return str(path)


def test_oracle_export_follows_the_format(dataset):
    records = load_records(dataset)
    kinds = {r.action.type for r in records}
    assert {"click", "terminate"} <= kinds
    for r in records:
        assert r.screenshot.is_file() and r.elements
        if r.action.type == "click":
            x1, y1, x2, y2 = r.action.bounds
            assert x1 <= r.action.point[0] <= x2 and y1 <= r.action.point[1] <= y2
            assert r.elements[r.action.index].bounds == r.action.bounds
    # Each episode's history grows by one line per step.
    first = [r for r in records if r.id.endswith("/1")][0]
    assert len(first.history) == 1 and json.loads(first.history[0])["action"]


def test_offline_grpo_trains_on_the_dataset(tiny_model_dir, dataset, tmp_path):
    data = {
        "model": tiny_model_dir,
        "out": str(tmp_path / "run"),
        "offline": dataset,
        "offline_eval": dataset,
        "steps": 2,
        "eval_every": 2,
        "eval_instances": 3,
        "device": "cpu",
        "dtype": "float32",
        "progress_bar": False,
        "rollout": {"groups_per_step": 2, "group_size": 3, "max_new_tokens": 12},
        "prompt": {"observation": "pixels+elements", "action_format": "json", "max_pixels": 28 * 28 * 24},
    }
    trainer = Trainer(config_from_dict(apply_overrides(data, {})))
    samples, stats = trainer.offline.batch(0)
    assert len(samples) == 6 and {s.step.prompt_text for s in samples[:3]} == {samples[0].step.prompt_text}
    assert 0.0 <= stats["reward_mean"] <= 1.0 and stats["episode_length"] == 1.0
    rows = trainer.train()
    assert [r["step"] for r in rows] == [1, 2] and "eval_success_rate" in rows[-1]
    assert all(r["samples"] == 6 and "entropy" in r for r in rows)
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()


def test_train_offline_cli(tiny_model_dir, dataset, tmp_path):
    proc = subprocess.run(
        [
            sys.executable, "-m", "gui_grpo", "train", "--model", tiny_model_dir, "--offline", dataset,
            "--out", str(tmp_path / "cli"), "--steps", "1", "--groups", "1", "--group-size", "2",
            "--max-new-tokens", "8", "--max-pixels", str(28 * 28 * 24), "--device", "cpu", "--no-progress",
        ],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "done: steps 1-1" in proc.stdout
    row = json.loads((tmp_path / "cli" / "metrics.jsonl").read_text())
    assert row["samples"] == 2 and row["episode_length"] == 1.0
