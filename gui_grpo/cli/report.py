"""``gui-grpo report RUN_A [RUN_B]``: a self-contained HTML report of a run, or a comparison of two."""

from __future__ import annotations

import argparse
from pathlib import Path

from gui_grpo.cli.main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write an HTML report of an evaluation or training run, or compare two evaluations",
        description="Write one self-contained report.html (no network fetches): settings, a sortable "
        "summary table, plots (success by app; training curves for a run with metrics.jsonl) and "
        "per-episode filmstrips, failures first. With two evaluations, also their differences per "
        "template and app with 95% intervals.",
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="one run directory, or two evaluations")
    p.add_argument("--out", type=Path, help="HTML file to write (default RUN_A/report.html)")
    p.add_argument("--max-episodes", type=int, default=60, help="filmstrips per run (default 60)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if len(args.runs) > 2:
        raise UserError("give one run directory, or two evaluation directories to compare")
    from gui_grpo.eval.report.build import ReportError, write_report

    try:
        out = write_report(args.runs, args.out, max_episodes=args.max_episodes)
    except ReportError as e:
        raise UserError(str(e)) from e
    print(f"wrote {out}")
    return 0
