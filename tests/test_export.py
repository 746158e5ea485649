"""export: the merged checkpoint gives the same logits as base + adapter, without peft."""

from __future__ import annotations

import subprocess
import sys

import torch
from PIL import Image
from transformers import AutoModelForImageTextToText

from gui_grpo.policy.model import AdapterConfig, load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig


def test_merged_logits_match_base_plus_adapter(tiny_model_dir, tmp_path):
    torch.manual_seed(0)
    model, processor, family = load_policy(
        tiny_model_dir, device="cpu", dtype="float32", lora=AdapterConfig(r=4)
    )
    with torch.no_grad():  # a trained adapter is not zero: move its B matrices off zero
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    adapter = tmp_path / "adapter"
    model.save_pretrained(adapter)

    builder = PromptBuilder(processor, family, PromptConfig(max_pixels=28 * 28 * 24))
    screen = Image.new("RGB", (540, 1200), (30, 120, 200))
    prompt = builder.build("Turn on Wi-Fi", [builder.resize(screen)], [], screen.size)
    batch = builder.encode([prompt])
    with torch.no_grad():
        expected = model(**batch).logits

    out = tmp_path / "merged"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gui_grpo",
            "export",
            "--adapter",
            str(adapter),
            "--model",
            tiny_model_dir,
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForImageTextToText.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        got = merged(**batch).logits
    assert torch.allclose(got, expected, atol=1e-4)
    with torch.no_grad():
        plain = load_policy(tiny_model_dir, device="cpu", dtype="float32").model(**batch).logits
    assert not torch.allclose(plain, expected, atol=1e-3)  # the adapter really changed the model


def test_export_errors_are_one_line(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    for argv, message in [
        (["--adapter", str(tmp_path / "nope"), "--out", str(tmp_path / "o")], "adapter_config.json"),
        (["--adapter", str(tmp_path), "--out", str(tmp_path / "full")], "adapter_config.json"),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "gui_grpo", "export", *argv], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
