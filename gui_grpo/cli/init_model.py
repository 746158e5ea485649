"""``gui-grpo init-model OUT``: build a tiny Qwen VL model offline (no download)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from gui_grpo.cli.main import UserError
from gui_grpo.policy.coords import FAMILIES

if TYPE_CHECKING:
    from gui_grpo.modeling.pretrain import PretrainConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "init-model",
        help="build a small Qwen VL model with its own tokenizer and random weights, no download",
        description=(
            "Build a Qwen VL-architecture model offline: a BPE tokenizer trained on phone-task text, the "
            "family's processors and chat template, a small config and seeded random weights, saved so that "
            "from_pretrained loads it like any checkpoint."
        ),
    )
    parser.add_argument("out", type=Path, metavar="OUT", help="directory to write the model to")
    parser.add_argument(
        "--family", choices=sorted(FAMILIES), default="qwen2_5_vl", help="architecture family"
    )
    parser.add_argument(
        "--size", choices=["small", "tiny"], default="tiny", help="size preset (default tiny)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the tokenizer corpus and the weights")
    parser.add_argument(
        "--pretrain",
        action="store_true",
        help=(
            "train the text side on generated copy / find / read exercises first (about 6 minutes on 2 CPU "
            "cores): the reading skills a released checkpoint arrives with; no task template is used"
        ),
    )
    parser.add_argument(
        "--pretrain-steps",
        metavar="COPY,MIXED",
        default=None,
        help="steps of the copy phase and of the mixed phase (default 900,800; implies --pretrain)",
    )
    parser.add_argument("--force", action="store_true", help="write into OUT even if it is not empty")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory: choose another OUT")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise UserError(f"{out} is not empty: choose another OUT or pass --force to write into it")
    pretrain = _pretrain_config(args)
    from gui_grpo.modeling.build import init_model  # imports torch: only when the command runs

    built = init_model(out, family=args.family, size=args.size, seed=args.seed, pretrain=pretrain, log=print)
    print(
        f"wrote a {args.size} {args.family} model to {out}: {built.parameters / 1e6:.2f} M parameters, "
        f"vocabulary {built.vocab_size}, seed {args.seed}"
    )
    if built.pretrained is not None:
        scores = ", ".join(f"{skill} {rate:.0%}" for skill, rate in built.pretrained.exact.items())
        print(
            f"pretrained {built.pretrained.steps} steps in {built.pretrained.seconds:.0f} s; held-out "
            f"exercises solved exactly: {scores} ({out / 'pretraining.json'})"
        )
    return 0


def _pretrain_config(args: argparse.Namespace) -> PretrainConfig | None:
    from gui_grpo.modeling.pretrain import PretrainConfig  # imports torch

    if args.pretrain_steps is None:
        return PretrainConfig(seed=args.seed) if args.pretrain else None
    try:
        copy_steps, mixed_steps = (int(part) for part in args.pretrain_steps.split(","))
        return PretrainConfig(copy_steps=copy_steps, mixed_steps=mixed_steps, seed=args.seed)
    except ValueError:  # not two integers, or a negative one
        raise UserError(
            f"--pretrain-steps {args.pretrain_steps!r}: give two non-negative integers, COPY,MIXED "
            "(for example 900,800)"
        ) from None
