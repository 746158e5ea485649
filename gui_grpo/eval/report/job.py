"""The main job's page: ``gui-grpo report runs/quickstart`` on a directory ``gui-grpo train`` wrote.

One page tells the job's story: the before/after table, GRPO's curves (smoothed, with held-out success over
time and the warm start's loss; steps below, minutes on top), the per-template changes on the test split
with 95 % intervals, and the filmstrips of the episodes whose outcome GRPO changed (the same instances,
warm start and after, side by side in order: improvements first).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gui_grpo.eval.report.html import _e, _pct, comparison_table, data_uri, filmstrip, page, table
from gui_grpo.eval.report.runs import METRICS_FILE, ReportError, RunData, _jsonl, load_run

JOB_FILE = "quickstart.json"
PHASES = (("before", "warm start"), ("control", "control (more SFT)"), ("after", "GRPO"))
SPLITS = (("test", "test-split params"), ("validation", "validation-split params"),
          ("heldout", "held-out templates"))
ROWS = tuple((f"{phase}_{split}", f"{name}, {where}") for split, where in SPLITS for phase, name in PHASES)


def is_job(path: Path) -> bool:
    return (Path(path) / JOB_FILE).is_file()


@dataclass
class Job:
    path: Path
    summary: dict[str, Any]
    evals: dict[str, RunData]  # "eval_warm_test" ... -> the evaluation
    metrics: list[dict[str, Any]]
    warm_epochs: list[dict[str, Any]]


def load_job(path: Path) -> Job:
    """The job in ``path``: quickstart.json, its evaluations, GRPO's metrics and the warm start's epochs."""
    try:
        summary = json.loads((path / JOB_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReportError(f"{path / JOB_FILE} cannot be read ({e}); run the job again") from e
    evals = {d.name: load_run(d) for d in sorted(path.glob("eval_*")) if (d / "summary.json").is_file()}
    return Job(path, summary, evals, *curve_data(path))


def curve_data(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """GRPO's metrics rows and the warm start's epochs of the job in ``path`` (empty where absent)."""
    metrics_file = path / "grpo" / METRICS_FILE
    metrics = _jsonl(metrics_file) if metrics_file.is_file() else []
    sft = path / "warm_start" / "sft.json"
    epochs = json.loads(sft.read_text(encoding="utf-8")).get("epochs", []) if sft.is_file() else []
    return metrics, epochs


def _before_after(job: Job) -> str:
    rows = []
    for key, label in ROWS:
        r = job.summary.get(key)
        if r:
            lo, hi = r["success_ci95"]
            rows.append([label, (str(r["scored"]), r["scored"]), (_pct(r["success_rate"]), r["success_rate"]),
                         (f"{_pct(lo)} – {_pct(hi)}", lo), (_pct(r["invalid_action_rate"]), None),
                         (_pct(r["false_completion_rate"]), None)])
    headers = ["held-out success (greedy)", "episodes", "success", "95% Wilson interval", "invalid actions",
               "false completions"]
    minutes = job.summary.get("minutes")
    took = f"<p>The whole job took {minutes:.1f} minutes.</p>" if isinstance(minutes, (int, float)) else ""
    return "<h2>Before and after GRPO</h2>" + table(headers, rows, css="meta") + took + _groups(job)


def _groups(job: Job) -> str:
    """Success per template group (demonstrated D, reward-only R, both) for each phase, when the job has
    them (protocol v2)."""
    groups = job.summary.get("groups") or {}
    rows = []
    for key, label in ROWS:
        for name, r in (groups.get(key) or {}).items():
            if r.get("success_rate") is None:
                continue
            lo, hi = r["success_ci95"]
            rows.append([f"{label}: {name}", (str(r["scored"]), r["scored"]),
                         (_pct(r["success_rate"]), r["success_rate"]), (f"{_pct(lo)} – {_pct(hi)}", lo)])
    if not rows:
        return ""
    headers = ["template group", "episodes", "success", "95% Wilson interval"]
    return ("<h2>By template group</h2><p>D: templates with demonstrations; R: reward-only templates, "
            "which GRPO learns from their checkers alone.</p>" + table(headers, rows, css="meta"))


def _curves(job: Job, out_dir: Path | None) -> str:
    from gui_grpo.eval.report.plots import job_curves_png

    png = job_curves_png(job.metrics, job.warm_epochs)
    if png is None:
        return ""
    if out_dir is not None:
        (out_dir / "curves.png").write_bytes(png)
    return f'<h2>Curves</h2><img class="plot" alt="training curves" src="{data_uri(png, "image/png")}">'


def changed_outcomes(before: RunData, after: RunData) -> list[tuple[dict, dict]]:
    """Pairs (warm start, GRPO) of the same instance whose success differs: improvements, then losses."""
    after_by = {r.get("index"): r for r in after.records}
    pairs = [(b, after_by[b.get("index")]) for b in before.records if b.get("index") in after_by]
    changed = [(b, a) for b, a in pairs if bool(b.get("success")) != bool(a.get("success"))]
    return sorted(changed, key=lambda p: (not p[1].get("success"), p[0].get("index", 0)))


def _changed(job: Job, split: str, max_episodes: int) -> str:
    before, after = job.evals.get(f"eval_warm_{split}"), job.evals.get(f"eval_grpo_{split}")
    if before is None or after is None:
        return ""
    pairs = changed_outcomes(before, after)
    gained = sum(1 for _, a in pairs if a.get("success"))
    head = (f"<h2>Episodes GRPO changed ({split}): {gained} now succeed, {len(pairs) - gained} now fail</h2>"
            "<p>Each instance as the warm start played it, then as the trained policy played it.</p>")
    shown = pairs[: max(1, max_episodes // 2)]
    body = "".join(f'<div class="pair"><h3>#{_e(b.get("index"))} {_e(b["task"])}</h3>'
                   f"<p>warm start</p>{filmstrip(before, b)}<p>after GRPO</p>{filmstrip(after, a)}</div>"
                   for b, a in shown)
    more = len(pairs) - len(shown)
    tail = f"<p>{more} more changed episodes not shown (raise --max-episodes).</p>" if more > 0 else ""
    return head + body + tail


def render_job(path: Path, out_dir: Path | None = None, max_episodes: int = 60) -> str:
    job = load_job(Path(path))
    body = [_before_after(job), _curves(job, out_dir)]
    for split, _ in SPLITS:
        before = job.evals.get(f"eval_warm_{split}")
        for other, label in (("grpo", "GRPO"), ("control", "the control")):
            after = job.evals.get(f"eval_{other}_{split}")
            if before is not None and after is not None and before.summary and after.summary:
                body.append(f"<h2>Per template ({split}): {label} − warm start, 95% intervals</h2>")
                body.append(comparison_table(before.summary, after.summary, ("warm start", label)))
    body += [_changed(job, split, max_episodes) for split, _ in SPLITS]
    preset = job.summary.get("preset", {})
    title = f"gui-grpo main job: {preset.get('name', path.name)} ({job.summary.get('code_version', '')})"
    return page(title, "".join(body))
