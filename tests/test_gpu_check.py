"""scripts/gpu_check.py: the real-size training path check, run here on the small configurations (CPU)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def gpu_check(*argv: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "scripts/gpu_check.py", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_small_configuration_runs_the_training_path_on_cpu() -> None:
    proc = gpu_check("--size", "small", "--configs", "qwen2_5_vl_small", "--device", "cpu",
                     "--steps", "2", "--warmup", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    row = lines[0]
    assert row["config"] == "qwen2_5_vl_small" and row["device"] == "cpu" and row["g"] == 8
    for key in ("sampling_s", "loss_pass_s", "optimizer_s", "tokens_per_s"):
        assert row[key] > 0, key
    assert len(row["loss"]) == 2 and all(math.isfinite(v) for v in row["loss"] + row["grad_norm"])
    assert row["prompt_tokens"] > 100 and 0 < row["trainable_params"] < row["params"]
    assert row["g16_fits"] and row["grad_checkpointing_fits"] and row["grad_checkpointing_layers"] > 0
    assert row["torch"] and row["transformers"] and row["peft"]


def test_released_architectures_match_the_checkpoints_parameter_counts() -> None:
    proc = gpu_check("--count-params")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["config"] for r in rows] == ["qwen2_5_vl_3b", "qwen2_5_vl_7b", "qwen3_vl_8b"]
    for r in rows:
        assert r["params"] == r["released_params"], r["config"]
        assert 0 < r["trainable_params"] < r["params"] / 50


def test_full_size_without_cuda_is_one_line() -> None:
    proc = gpu_check("--device", "cpu")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpu_check: --size full")
