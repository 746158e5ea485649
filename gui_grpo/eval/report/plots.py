"""Matplotlib PNG plots for reports: success by app (one bar per run, Wilson 95% error bars) and training
curves from a run's metrics.jsonl. Rendered with the Agg backend; no display is needed."""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

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
