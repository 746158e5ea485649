"""``gui-grpo offline-data``: export PhoneSim oracle demonstrations as an offline GRPO dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from gui_grpo.cli.main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "offline-data",
        help="export oracle demonstrations as an offline GRPO dataset (docs/OFFLINE_FORMAT.md)",
        description="Play each template of a suite with its scripted oracle on PhoneSim and write one "
        "AndroidControl-style record per oracle action (screenshot, instruction, history, ground-truth "
        "action with target bounds) to OUT/data.jsonl. Train on it with `gui-grpo train --offline`.",
    )
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--suite", default="smoke", help="task suite (default smoke)")
    p.add_argument("--split", default="train", choices=["train", "test", "heldout", "all"])
    p.add_argument("--seeds", type=int, default=5, help="instances per template (default 5)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--sim-resolution", dest="resolution", choices=("default", "small"),
                   default="small", help="PhoneSim screen size (default small)")
    p.add_argument("--resolution", dest="resolution", choices=("default", "small"),
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the old name
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gui_grpo.train.offline import export_oracle_records
    from tasks.base import TaskError

    if args.seeds < 1:
        raise UserError("--seeds must be >= 1")
    try:
        path, counts = export_oracle_records(
            args.out,
            suite=args.suite,
            split=args.split,
            seeds=args.seeds,
            resolution=args.resolution,
            first_seed=args.first_seed,
        )
    except TaskError as e:
        raise UserError(str(e)) from e
    print(
        f"{counts['records']} records from {counts['solved']}/{counts['episodes']} solved oracle episodes "
        f"written to {path}"
    )
    return 0
