"""What the main job's GRPO minutes would have bought as more supervised training instead.

Continues the warm start of a finished ``gui-grpo train`` run (``RUN/warm_start``) on the same oracle
demonstrations (``RUN/demos``) for the same wall-clock as that run's GRPO phase (from
``RUN/grpo/metrics.jsonl``, or ``--minutes``), with no early stop, then evaluates it greedily on the same
held-out episodes as the run's before/after table, and prints the three rows side by side.

    python experiments/compare_sft.py runs/quickstart [--minutes 10]

Writes ``RUN/sft_more`` (the checkpoint) and ``RUN/eval_sft_more_{test,heldout}``; prints JSON last.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from finished_run import saved_preset

from gui_grpo.cli.quickstart import evaluate
from gui_grpo.policy.model import AdapterConfig
from gui_grpo.train.demos import load_demos
from gui_grpo.train.sft import SftConfig, run_sft


def grpo_minutes(run: Path) -> float:
    rows = [json.loads(line) for line in (run / "grpo" / "metrics.jsonl").read_text().splitlines() if line]
    return sum(r.get("rollout_s", 0.0) + r.get("learn_s", 0.0) for r in rows) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished quickstart run directory")
    parser.add_argument("--minutes", type=float, help="training budget (default: the run's GRPO time)")
    args = parser.parse_args()
    try:
        preset, saved = saved_preset(args.run)
    except ValueError as e:
        sys.exit(str(e))
    minutes = args.minutes or grpo_minutes(args.run)
    cfg = SftConfig(
        model=str(args.run / "warm_start"),
        out=str(args.run / "sft_more"),
        epochs=10_000,
        adapter=AdapterConfig(full_finetune=True),
        patience=0,
        max_minutes=minutes,
        seed=preset.seed + 1,
        eval_instances=0,
        max_new_tokens=preset.max_new_tokens,
        device="cpu",
        dtype="float32",
    )
    result = run_sft(cfg, load_demos(args.run / "demos"))
    rows = {}
    for split, n in (("test", preset.eval_episodes), ("heldout", preset.heldout_episodes)):
        if n:
            out = evaluate(preset, result.out, None, args.run / f"eval_sft_more_{split}", split, n)
            rows[split] = out["overall"]
    figures = {
        "sft_minutes": round(minutes, 2),
        "epochs": len(result.epochs),
        "last_loss": result.epochs[-1]["loss"] if result.epochs else None,
        **{f"{k}_warm": saved.get(f"before_{k}") for k in rows},
        **{f"{k}_grpo": saved.get(f"after_{k}") for k in rows},
        **{f"{k}_more_sft": v for k, v in rows.items()},
    }
    for split in rows:
        for label in ("warm", "grpo", "more_sft"):
            o = figures[f"{split}_{label}"]
            if o:
                lo, hi = (x * 100 for x in o["success_ci95"])
                print(f"{split:8s} {label:9s} {o['success_rate'] * 100:5.1f}%  [{lo:.1f}, {hi:.1f}]")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
