"""The main job's smoke preset end to end: model built, warm start, GRPO, before/after table; then the
trained model used from another directory with no prompt flags, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gui_grpo.cli.quickstart import QUICKSTART_GRPO


def gui_grpo(*argv: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gui_grpo", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("quickstart")
    proc = gui_grpo("train", "--preset", "smoke", "--out", "runs/smoke", "--no-progress", cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, proc


def test_train_smoke_preset_end_to_end(smoke: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, proc = smoke
    run = root / "runs" / "smoke"
    assert (root / "runs" / "tiny" / "config.json").is_file()  # built because it was absent
    assert (run / "warm_start" / "config.json").is_file()
    assert (run / "grpo" / "final" / "adapter_config.json").is_file()
    summary = json.loads((run / "quickstart.json").read_text())
    for key in ("before_test", "control_test", "after_test"):  # warm start, the control (more SFT), GRPO
        assert 0.0 <= summary[key]["success_rate"] <= 1.0 and len(summary[key]["success_ci95"]) == 2
        assert summary["groups"][key]["all"]["scored"] == summary[key]["scored"]
    assert (run / "control" / "config.json").is_file()
    assert (run / "eval_control_test" / "summary.json").is_file()
    assert summary["code_version"]
    table = proc.stdout[proc.stdout.rindex("greedy success"):]
    assert "test: all" in table
    assert all(label in table for label in ("warm start", "control (more SFT)", "GRPO"))
    assert "run directory" in proc.stdout
    # --no-progress reaches the preset's GRPO phase: a line per step on stdout, no tqdm bar on stderr.
    assert "step=1" in proc.stdout and "step/s" not in proc.stderr


def _episodes(directory: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (directory / "episodes.jsonl").read_text().splitlines()]
    return [(r["success"], r["actions"]) for r in rows]


def test_the_trained_model_is_used_as_trained_from_any_directory(
    smoke: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, _ = smoke
    run = root / "runs" / "smoke"
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    for directory in (run / "warm_start", run / "grpo" / "final"):  # each carries how it is to be used
        usage = json.loads((directory / "gui_grpo.json").read_text())
        trained = {"observation": "pixels+elements", "action_format": "json", "max_pixels": 40_000}
        assert trained.items() <= usage["prompt"].items()
        assert usage["sim_resolution"] == "small"
        assert usage["max_new_tokens"] == QUICKSTART_GRPO.rollout.max_new_tokens
    card = (run / "grpo" / "final" / "README.md").read_text()  # ours, not PEFT's empty template
    assert "Model Card for Model ID" not in card and "A GRPO-trained LoRA adapter" in card
    assert f"--model {run / 'warm_start'} --adapter DIR" in card
    assert "| observation | `pixels+elements` |" in card
    adapter_config = json.loads((run / "grpo" / "final" / "adapter_config.json").read_text())
    assert Path(adapter_config["base_model_name_or_path"]).is_absolute()

    seed = json.loads((run / "quickstart.json").read_text())["preset"]["grpo"]["seed"] + 7
    model, adapter = "../runs/smoke/warm_start", "../runs/smoke/grpo/final"
    proc = gui_grpo("eval", "--model", model, "--adapter", adapter, "--suite", "smoke", "--episodes", "4",
                    "--devices", "sim:4", "--seed", str(seed), "--max-steps", "4", "--out", "eval",
                    cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ours = json.loads((elsewhere / "eval" / "summary.json").read_text())
    theirs = json.loads((run / "eval_grpo_test" / "summary.json").read_text())
    assert ours["overall"] == theirs["overall"]
    assert _episodes(elsewhere / "eval") == _episodes(run / "eval_grpo_test")

    proc = gui_grpo("eval", "--model", model, "--adapter", adapter, "--observation", "pixels",
                    "--out", "bad", cwd=elsewhere)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    conflict = ("--observation pixels contradicts the model, which was trained with --observation "
                "pixels+elements")
    assert conflict in proc.stderr
    assert not (elsewhere / "bad").exists()

    proc = gui_grpo("run", "--devices", "sim:1", "--task", "Turn on airplane mode", "--model", model,
                    "--adapter", adapter, "--dry-run", "--max-steps", "2", "--out", "agent", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "trajectory saved in agent" in proc.stdout

    proc = gui_grpo("report", "../runs/smoke", "--out", "job.html", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Before and after GRPO" in (elsewhere / "job.html").read_text()  # the main job's one page

    proc = gui_grpo("export", "--adapter", adapter, "--out", "merged", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr[-3000:]
    merged = json.loads((elsewhere / "merged" / "gui_grpo.json").read_text())
    assert merged["trained_by"] == "export" and merged["prompt"]["observation"] == "pixels+elements"
