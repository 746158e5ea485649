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
