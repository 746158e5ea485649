"""Matplotlib PNG plots for reports: success by app (one bar per run, Wilson 95% error bars) and training
curves from a run's metrics.jsonl. Rendered with the Agg backend; no display is needed."""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Training metrics drawn when a run logged them, in this order (fixed names from the trainer).
CURVE_KEYS: tuple[str, ...] = (
    "reward_mean",
    "success_rate",
    "eval_success_rate",
    "invalid_action_rate",
    "episode_length",
    "loss",
    "approx_kl",
    "clip_fraction",
    "entropy",
    "completion_length",
)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def success_by_app_png(runs: list[tuple[str, dict[str, Any]]]) -> bytes:
    """Grouped bars of success rate per app, one colour per run, with Wilson 95% intervals."""
    apps = sorted({app for _, s in runs for app in s.get("by_app", {})})
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(apps) * len(runs) + 1.5), 3.2))
    width = 0.8 / max(1, len(runs))
    for j, (name, summary) in enumerate(runs):
        xs, ys, lo, hi = [], [], [], []
        for i, app in enumerate(apps):
            row = summary.get("by_app", {}).get(app)
            if row is None or row["success_rate"] is None:
                continue
            xs.append(i + (j - (len(runs) - 1) / 2) * width)
            ys.append(row["success_rate"])
            lo.append(max(0.0, row["success_rate"] - row["success_ci95"][0]))
            hi.append(max(0.0, row["success_ci95"][1] - row["success_rate"]))
        ax.bar(xs, ys, width=width * 0.95, yerr=[lo, hi], capsize=3, label=name)
    ax.set_xticks(range(len(apps)), apps)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate")
    ax.set_title("Success by app (95% Wilson intervals)")
    if len(runs) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def training_curves_png(metrics: list[dict[str, Any]]) -> bytes | None:
    """One small panel per logged training metric against step; None when nothing is plottable."""
    keys = [k for k in CURVE_KEYS if any(isinstance(row.get(k), (int, float)) for row in metrics)]
    if not keys:
        return None
    cols = min(3, len(keys))
    nrows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.4 * nrows), squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        pts = [
            (row.get("step", i + 1), row[key])
            for i, row in enumerate(metrics)
            if isinstance(row.get(key), (int, float))
        ]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None, ms=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def smoothed(values: list[float], window: int) -> list[float]:
    """Trailing mean over ``window`` points (fewer at the start): the curve without per-step noise."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def _series(metrics: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    rows = [(float(r.get("step", i + 1)), float(r[key])) for i, r in enumerate(metrics)
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [s for s, _ in rows], [v for _, v in rows]


def _minutes_axis(ax: Any, metrics: list[dict[str, Any]]) -> None:
    """A second x axis on top in training minutes (from ``elapsed_s``), when the run logged it."""
    steps, secs = _series(metrics, "elapsed_s")
    if len(steps) < 2 or secs[-1] <= secs[0]:
        return
    top = ax.secondary_xaxis(
        "top",
        functions=(lambda s: np.interp(s, steps, secs) / 60,
                   lambda m: np.interp(np.asarray(m) * 60, secs, steps)),
    )
    top.set_xlabel("minutes", fontsize=8)
    top.tick_params(labelsize=7)


JOB_PANELS: tuple[tuple[str, str], ...] = (
    ("success_rate", "success of training episodes"),
    ("reward_mean", "mean reward"),
    ("invalid_action_rate", "invalid actions per step"),
    ("episode_length", "steps per episode"),
    ("approx_kl", "approx. KL to the sampling policy"),
)


def job_curves_png(
    metrics: list[dict[str, Any]], warm_epochs: list[dict[str, Any]] | None = None
) -> bytes | None:
    """The main job's curves: the warm start's loss per epoch, then GRPO's metrics against steps (and
    minutes on top), each raw (faint) and smoothed over a tenth of the run; held-out success (``eval_*``)
    as points on the success panel. None when there is nothing to draw."""
    panels = [(k, t) for k, t in JOB_PANELS if _series(metrics, k)[0]]
    warm = [e for e in warm_epochs or [] if isinstance(e.get("loss"), (int, float))]
    if not panels and not warm:
        return None
    n = len(panels) + bool(warm)
    cols = min(3, n)
    fig, axes = plt.subplots(math.ceil(n / cols), cols, figsize=(3.8 * cols, 2.9 * math.ceil(n / cols)),
                             squeeze=False)
    flat = list(axes.flat)
    for ax in flat:
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if warm:
        ax = flat.pop(0)
        ax.plot([e["epoch"] for e in warm], [e["loss"] for e in warm], marker="o", ms=3)
        ax.set_yscale("log")
        ax.set_title("warm start: loss per epoch", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    window = max(1, len(metrics) // 10)
    for ax, (key, title) in zip(flat, panels, strict=False):
        steps, values = _series(metrics, key)
        ax.plot(steps, values, alpha=0.3, lw=0.8, label="per step")
        ax.plot(steps, smoothed(values, window), lw=1.8, label=f"mean of {window}")
        if key == "success_rate":
            e_steps, e_values = _series(metrics, "eval_success_rate")
            if e_steps:
                ax.plot(e_steps, e_values, "s-", ms=4, label="held-out (greedy)")
            ax.set_ylim(-0.02, 1.02)
            ax.legend(fontsize=7)
        if key == "approx_kl":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        _minutes_axis(ax, metrics)
    for ax in flat[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def protocol_png(
    metrics: list[dict[str, Any]], points: list[tuple[str, float, dict[str, Any]]], title: str
) -> bytes | None:
    """The main job against minutes: GRPO's training reward and success (smoothed), its periodic greedy
    success on validation instances, and the final rates of ``points`` (label, minutes, a rate with
    ``success_ci95``: the warm start at 0, the control and GRPO at their wall-clock) with their intervals."""
    if not metrics and not points:
        return None
    secs = {r["step"]: r["elapsed_s"] / 60 for r in metrics if "elapsed_s" in r}
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 3.4))
    for ax in (left, right):
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_xlabel("minutes of training after the warm start", fontsize=8)
    window = max(1, len(metrics) // 10)
    for key, label in (("reward_mean", "reward"), ("success_rate", "success")):
        steps, values = _series(metrics, key)
        x = [secs.get(s, 0.0) for s in steps]
        left.plot(x, smoothed(values, window), lw=1.6, label=f"{label} (mean of {window} steps)")
    left.set_title("GRPO's training episodes", fontsize=9)
    left.legend(fontsize=7)
    e_steps, e_values = _series(metrics, "eval_success_rate")
    if e_steps:
        right.plot([secs.get(s, 0.0) for s in e_steps], e_values, "s:", ms=3, alpha=0.6,
                   label="GRPO, validation (8 greedy episodes)")
    for label, at, rate in points:
        lo, hi = rate["success_ci95"]
        p = rate["success_rate"]
        right.errorbar([at], [p], yerr=[[p - lo], [hi - p]], fmt="o", capsize=3, label=label)
    right.set_ylim(-0.02, 1.02)
    right.set_title(title, fontsize=9)
    right.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
