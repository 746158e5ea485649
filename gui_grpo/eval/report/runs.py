"""Reading run directories for reports: evaluations (summary.json), training runs (metrics.jsonl) and
single agent episodes (episode.json, as `gui-grpo run` writes them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gui_grpo.eval.evaluate import SUMMARY_FILE, load_records
from gui_grpo.rollout.trajectories import EPISODE_FILE

METRICS_FILE = "metrics.jsonl"


class ReportError(Exception):
    """A directory given to the report is not a run it can read."""


@dataclass
class RunData:
    path: Path  # the evaluation or training directory (for an episode: its parent)
    name: str
    kind: Literal["evaluation", "training", "episode"]
    summary: dict[str, Any] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] | None = None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ReportError(f"{path}:{n} is not JSON ({e.msg})") from e
    return rows


def load_run(path: str | Path) -> RunData:
    """Whatever run ``path`` holds; raises ``ReportError`` when it holds none."""
    path = Path(path)
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory")
    if (path / SUMMARY_FILE).is_file():
        summary = json.loads((path / SUMMARY_FILE).read_text(encoding="utf-8"))
        return RunData(path, path.name, "evaluation", summary=summary, records=load_records(path))
    if (path / METRICS_FILE).is_file():
        config = None
        if (path / "config.json").is_file():
            config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        return RunData(path, path.name, "training", metrics=_jsonl(path / METRICS_FILE), config=config)
    if (path / EPISODE_FILE).is_file():
        record = json.loads((path / EPISODE_FILE).read_text(encoding="utf-8"))
        record["dir"] = path.name
        return RunData(path.parent, path.name, "episode", records=[record])
    raise ReportError(
        f"{path} holds no run: expected {SUMMARY_FILE} (gui-grpo eval), {METRICS_FILE} (gui-grpo train) "
        f"or {EPISODE_FILE} (gui-grpo run)"
    )
