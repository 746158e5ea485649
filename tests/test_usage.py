"""A model's gui_grpo.json: the settings it was trained with, read back by eval, run and export."""

from __future__ import annotations

from pathlib import Path

import pytest

from gui_grpo.cli import main as cli
from gui_grpo.policy.prompts import PromptConfig
from gui_grpo.policy.usage import (
    ModelUsage,
    Requested,
    UsageConflict,
    UsageError,
    load_usage,
    save_usage,
    settle,
    usage_of,
)

TRAINED = ModelUsage("qwen2_5_vl", PromptConfig(observation="pixels+elements", action_format="json",
                                                max_pixels=40_000), max_new_tokens=24, trained_by="grpo",
                     base_model="/abs/warm_start")


def test_usage_round_trips_and_the_adapter_wins_over_its_base(tmp_path: Path) -> None:
    base, adapter = tmp_path / "base", tmp_path / "adapter"
    base.mkdir(), adapter.mkdir()
    save_usage(base, ModelUsage("qwen2_5_vl", trained_by="sft"))
    save_usage(adapter, TRAINED)
    assert load_usage(adapter) == TRAINED
    assert usage_of(base, adapter) == (TRAINED, adapter / "gui_grpo.json")
    assert usage_of(base)[0].trained_by == "sft"
    assert usage_of(tmp_path) == (None, None)


def test_flags_that_agree_are_taken_and_one_that_contradicts_is_refused() -> None:
    agreeing = Requested(observation="pixels+elements", action_format="json", max_new_tokens=24)
    assert settle(TRAINED, agreeing, "qwen2_5_vl") is TRAINED
    with pytest.raises(UsageConflict) as e:
        settle(TRAINED, Requested(max_pixels=1_000_000), "qwen2_5_vl", Path("a/gui_grpo.json"))
    message = str(e.value)
    assert "--max-pixels 1000000 contradicts the model, which was trained with --max-pixels 40000" in message
    assert "a/gui_grpo.json" in message and "--observation pixels+elements --action-format json" in message


def test_a_model_without_usage_takes_the_flags_over_the_defaults() -> None:
    plain = settle(None, Requested(), "qwen2_5_vl")
    assert plain.prompt.observation == "pixels" and plain.max_new_tokens == 64
    assert plain.sim_resolution == "small"
    asked = settle(None, Requested(observation="pixels+elements", max_pixels=50_000, max_new_tokens=9),
                   "qwen2_5_vl")
    assert (asked.prompt.observation, asked.prompt.max_pixels, asked.max_new_tokens) == \
        ("pixels+elements", 50_000, 9)


def test_a_damaged_usage_file_is_one_line_naming_it(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "gui_grpo.json").write_text('{"family": "qwen2_5_vl", "prompt": {"observation": "sound"}}')
    with pytest.raises(UsageError, match="gui_grpo.json is not a gui-grpo usage file"):
        load_usage(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    code = cli.main(["eval", "--model", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "is not a gui-grpo usage file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
