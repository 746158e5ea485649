"""GRPO again from a finished main job's warm start, with config overrides, on the same held-out episodes.

Reruns the GRPO phase of a finished ``gui-grpo train`` run (``RUN/warm_start``, the run's preset and its
budget) with ``--set`` overrides of the GRPO config, evaluates the result greedily on the same test-split
and held-out-template episodes as the run's before/after table, and prints the rows beside the run's:

    python experiments/grpo_variant.py runs/quickstart --name full_lr2e-4 \\
        --set lora.full_finetune=true --set optim.lr=2e-4 [--set seed=1]

Writes ``RUN/variants/NAME/{grpo,eval_test,eval_heldout}``; prints the success rate per template and a JSON
line last. One variant takes the run's GRPO minutes plus about a minute of evaluation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from finished_run import saved_preset

from gui_grpo.cli.main import UserError
from gui_grpo.cli.quickstart import evaluate, grpo
from gui_grpo.cli.train import parse_sets
from gui_grpo.train.config import ConfigError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a finished quickstart run directory")
    parser.add_argument("--name", required=True, help="the variant's directory under RUN/variants/")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a GRPO config field by dotted path, e.g. --set optim.lr=2e-4")
    args = parser.parse_args()
    try:
        preset, saved = saved_preset(args.run)
    except ValueError as e:
        sys.exit(str(e))
    try:
        overrides = {"progress_bar": False, **parse_sets(args.set)}
    except UserError as e:
        sys.exit(str(e))
    out = args.run / "variants" / args.name
    t0 = time.perf_counter()
    try:
        model, adapter = grpo(preset, args.run / "warm_start", out / "grpo", overrides)
    except ConfigError as e:
        sys.exit(f"bad --set: {e}")
    minutes = (time.perf_counter() - t0) / 60
    figures: dict = {"variant": args.name, "overrides": overrides, "grpo_minutes": round(minutes, 2)}
    for split, n in (("test", preset.eval_episodes), ("heldout", preset.heldout_episodes)):
        if not n:
            continue
        summary = evaluate(preset, model, adapter, out / f"eval_{split}", split, n)
        figures[split] = summary["overall"]
        for label, o in (("warm", saved.get(f"before_{split}")), ("run", saved.get(f"after_{split}")),
                         (args.name, summary["overall"])):
            if o:
                lo, hi = (x * 100 for x in o["success_ci95"])
                print(f"{split:8s} {label:24s} {o['success_rate'] * 100:5.1f}%  [{lo:.1f}, {hi:.1f}]")
        if split == "test":
            for name, t in summary["by_template"].items():
                print(f"  {name:34s} {t['success_rate'] * 100:5.1f}%")
    print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
