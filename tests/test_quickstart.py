"""The main job's smoke preset end to end: model built, warm start, GRPO, before/after table."""

from __future__ import annotations

import json
import subprocess
import sys


def test_train_smoke_preset_end_to_end(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gui_grpo", "train", "--preset", "smoke", "--out", "runs/smoke"]
        + ["--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "runs" / "smoke"
    assert (tmp_path / "runs" / "tiny" / "config.json").is_file()  # built because it was absent
    assert (run / "warm_start" / "config.json").is_file()
    assert (run / "grpo" / "final" / "adapter_config.json").is_file()
    summary = json.loads((run / "quickstart.json").read_text())
    for key in ("before_test", "after_test"):
        assert 0.0 <= summary[key]["success_rate"] <= 1.0 and len(summary[key]["success_ci95"]) == 2
    assert "warm start, test-split params" in proc.stdout and "GRPO, test-split params" in proc.stdout
    assert "run directory" in proc.stdout
    # --no-progress reaches the preset's GRPO phase: a line per step on stdout, no tqdm bar on stderr.
    assert "step=1" in proc.stdout and "step/s" not in proc.stderr


def test_preset_takes_out_and_seed_from_set_or_flags_and_refuses_the_rest(monkeypatch, capsys):
    from gui_grpo.cli import main as cli
    from gui_grpo.cli import quickstart

    ran = []
    monkeypatch.setattr(quickstart, "run_quickstart", lambda preset: ran.append(preset))
    assert cli.main(["train", "--preset", "smoke", "--set", "out=runs/elsewhere", "--set", "seed=3"]) == 0
    assert ran[-1].name == "smoke" and ran[-1].out == "runs/elsewhere" and ran[-1].seed == 3
    assert cli.main(["train", "--preset", "smoke", "--out", "runs/b", "--seed", "2", "--no-progress"]) == 0
    assert (ran[-1].out, ran[-1].seed, ran[-1].progress_bar) == ("runs/b", 2, False)
    for argv in (["--set", "seed=two"], ["--set", "optim.lr=0.1"], ["--lr", "0.1"]):
        assert cli.main(["train", "--preset", "smoke", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("gui-grpo train: error:") and "\n" not in err
    assert len(ran) == 2
