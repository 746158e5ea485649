"""Reading a finished main-job run directory, for the experiments that rerun one of its phases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gui_grpo.cli.quickstart import PRESETS, Preset


def saved_preset(run: Path) -> tuple[Preset, dict[str, Any]]:
    """The preset a finished run used (from ``RUN/quickstart.json``) and that summary; ``ValueError``
    when ``run`` is not a finished ``gui-grpo train`` run."""
    summary_path = run / "quickstart.json"
    if not summary_path.is_file() or not (run / "warm_start").is_dir():
        raise ValueError(f"{run} is not a finished `gui-grpo train` run (no quickstart.json or warm_start/)")
    saved = json.loads(summary_path.read_text())
    kept = saved["preset"]
    seed = kept["grpo"]["seed"] if "grpo" in kept else kept.get("seed", 0)  # runs before the preset redesign
    preset = PRESETS[kept["name"]].with_options(out=str(run), seed=seed)
    return preset, saved
