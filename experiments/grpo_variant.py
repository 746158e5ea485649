"""GRPO again from a main-job run's warm start, with config overrides, on the same evaluation episodes.

Reruns the GRPO phase of a ``gui-grpo train`` run (``RUN/warm_start``; the preset named in
``RUN/quickstart.json`` or given with ``--preset``, and its budget) with ``--set`` overrides of the GRPO
config, evaluates the result greedily on the split the preset evaluates (``--eval-split`` to choose:
``validation`` while developing) and on the held-out templates, and prints the table rows per template
group (D, R, D+R, H) beside the run's warm start:

    python experiments/grpo_variant.py runs/quickstart --name replay --eval-split validation \\
        --set rollout.instance_pool=32 --set rollout.replay_successes=true [--set seed=1]

Writes ``RUN/variants/NAME/{grpo,eval_SPLIT,eval_heldout}``; prints the success rate per template and a
JSON line last. The warm start's evaluation on the split is made (once) when the run lacks it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gui_grpo.cli.main import UserError
from gui_grpo.cli.quickstart import PRESETS, evaluate, group_rates, grpo, template_groups
from gui_grpo.cli.train import parse_sets
from gui_grpo.train.config import ConfigError


def _row(label: str, o: dict) -> str:
    lo, hi = (x * 100 for x in o["success_ci95"])
    return f"{label:28s} {o['success_rate'] * 100:5.1f}%  [{lo:4.1f}, {hi:5.1f}]  n={o['scored']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a main-job run directory holding warm_start/")
    parser.add_argument("--name", required=True, help="the variant's directory under RUN/variants/")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="the run's preset (default: from the run)")
    parser.add_argument("--eval-split", choices=["test", "validation"], help="default: the preset's")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a GRPO config field by dotted path, e.g. --set optim.lr=2e-4")
    args = parser.parse_args()
    if not (args.run / "warm_start").is_dir():
        sys.exit(f"{args.run} holds no warm_start/: run `gui-grpo train` first")
    saved_path = args.run / "quickstart.json"
    saved = json.loads(saved_path.read_text()) if saved_path.is_file() else {}
    name = args.preset or saved.get("preset", {}).get("name")
    if name not in PRESETS:
        sys.exit(f"{args.run}: give --preset (one of {', '.join(sorted(PRESETS))})")
    preset = PRESETS[name].with_options(out=str(args.run), eval_split=args.eval_split)
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
    figures: dict = {"variant": args.name, "overrides": overrides,
                     "grpo_minutes": round((time.perf_counter() - t0) / 60, 2)}
    groups = template_groups(preset)
    split = preset.eval_split
    for where, n in ((split, preset.eval_episodes), ("heldout", preset.heldout_episodes)):
        if not n:
            continue
        warm_dir = args.run / f"eval_warm_{where}"
        if not (warm_dir / "summary.json").is_file():
            evaluate(preset, args.run / "warm_start", None, warm_dir, where, n)
        warm = json.loads((warm_dir / "summary.json").read_text())
        after = evaluate(preset, model, adapter, out / f"eval_{where}", where, n)
        figures[where] = after["overall"]
        names = groups if where != "heldout" else {"H": frozenset(after["by_template"])}
        for g, members in names.items():
            figures[f"{where}:{g}"] = group_rates(after, members)
            print(_row(f"{where} {g} warm start", group_rates(warm, members)))
            print(_row(f"{where} {g} {args.name}", figures[f"{where}:{g}"]))
        for t, v in after["by_template"].items():
            before = warm["by_template"].get(t, {}).get("success_rate")
            was = f"{before * 100:5.1f}%" if before is not None else "  -  "
            print(f"  {t:34s} {was} -> {v['success_rate'] * 100:5.1f}%")
    print(json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
