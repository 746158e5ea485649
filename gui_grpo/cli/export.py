"""``gui-grpo export``: merge a trained LoRA into its base and save a standard checkpoint."""

from __future__ import annotations

import argparse

from gui_grpo.cli.main import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="merge a LoRA adapter into its base model and save a standard checkpoint",
        description="Merge the LoRA in --adapter into its base weights (the base recorded in the adapter, or "
        "--model) and save model + processor to --out, loadable by from_pretrained and vLLM.",
    )
    p.add_argument("--adapter", required=True, help="adapter directory (a run's final/ or a checkpoint)")
    p.add_argument("--out", required=True, help="directory for the merged checkpoint")
    p.add_argument("--model", help="base checkpoint (default: the one recorded in the adapter)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gui_grpo.policy.usage import UsageError
    from gui_grpo.train.export import ExportError, export_merged

    try:
        out = export_merged(args.adapter, args.out, base=args.model, dtype=args.dtype, overwrite=args.force)
    except (ExportError, UsageError) as e:
        raise UserError(str(e)) from e
    print(f"wrote the merged model to {out}")
    return 0
