"""Reports: run directories in, one self-contained report.html (plus the plot PNGs) out.

``write_report([A])`` reports one evaluation, training run or agent episode, or the main job's directory
(``gui_grpo.eval.report.job``); ``write_report([A, B])`` with two evaluations also compares them side by
side, B − A with 95% intervals.
"""

from __future__ import annotations

from pathlib import Path

from gui_grpo.eval.report.html import (
    comparison_table,
    data_uri,
    filmstrips,
    page,
    settings_diff_table,
    settings_table,
    summary_table,
)
from gui_grpo.eval.report.runs import ReportError, RunData, load_run
from gui_grpo.rollout.trajectories import EPISODE_FILE

__all__ = ["ReportError", "RunData", "load_run", "render_report", "write_report"]


def _plots(runs: list[RunData], out_dir: Path | None) -> str:
    from gui_grpo.eval.report.plots import success_by_app_png, training_curves_png

    parts = []
    evals = [(r.name, r.summary) for r in runs if r.kind == "evaluation" and r.summary]
    if evals:
        png = success_by_app_png(evals)
        if out_dir is not None:
            (out_dir / "success_by_app.png").write_bytes(png)
        parts.append(f'<img class="plot" alt="success by app" src="{data_uri(png, "image/png")}">')
    for i, run in enumerate(r for r in runs if r.kind == "training"):
        png = training_curves_png(run.metrics)
        if png is None:
            continue
        if out_dir is not None:
            (out_dir / f"training_curves{'' if i == 0 else f'_{i}'}.png").write_bytes(png)
        parts.append(f"<h3>Training curves: {run.name}</h3>"
                     f'<img class="plot" alt="training curves" src="{data_uri(png, "image/png")}">')
    return "<h2>Plots</h2>" + "".join(parts) if parts else ""


def _names(runs: list[RunData]) -> list[str]:
    names = [r.name for r in runs]
    if len(set(names)) < len(names):
        names = [f"{label} ({r.name})" for label, r in zip("AB", runs, strict=False)]
    return names


def render_report(runs: list[RunData], out_dir: Path | None = None, max_episodes: int = 60) -> str:
    """The report page for one or two runs; plot PNGs are also written to ``out_dir`` when given."""
    if not 1 <= len(runs) <= 2:
        raise ReportError("a report takes one run, or two evaluations to compare")
    names = _names(runs)
    body = []
    pair = len(runs) == 2 and all(r.kind == "evaluation" for r in runs)
    if pair:
        a, b = runs
        body.append(f"<h2>Comparison: B = {names[1]} vs A = {names[0]}</h2>")
        body.append(settings_diff_table(a, b))
        body.append(comparison_table(a.summary or {}, b.summary or {}, (names[0], names[1])))
    for i, (run, name) in enumerate(zip(runs, names, strict=True)):
        body.append(f"<h2>{name}: {run.kind}</h2>" + settings_table(run))
        if run.summary:
            body.append(summary_table(run.summary, tid=f"summary-{i}"))
    body.append(_plots(runs, out_dir))
    for run, name in zip(runs, names, strict=True):
        if run.records:
            body.append(f"<h2>Episodes: {name} (failures first)</h2>" + filmstrips(run, max_episodes))
    title = "gui-grpo report: " + (" vs ".join(names))
    return page(title, "".join(body))


def write_report(paths: list[Path], out: Path | None = None, max_episodes: int = 60) -> Path:
    """Write report.html (default: inside the first run's directory) and return its path."""
    from gui_grpo.eval.report.job import is_job, render_job

    first = Path(paths[0])
    if out is None:
        out = first / "report.html"
    # The page embeds its plots; their PNGs go into the (first) run's directory, never beside an --out
    # elsewhere (an episode's run directory is its parent's).
    png_dir = first if first.is_dir() and not (first / EPISODE_FILE).is_file() else None
    if len(paths) == 1 and is_job(first):  # the main job's directory: its one-page story
        html = render_job(first, png_dir, max_episodes)
    else:
        html = render_report([load_run(p) for p in paths], png_dir, max_episodes)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
