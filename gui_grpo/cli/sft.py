"""``gui-grpo demos`` and ``gui-grpo sft``: record training-ready oracle demos, then warm-start on them.

gui-grpo demos --model PATH --suite S --split train --seeds N --out DIR
               [--observation pixels|pixels+elements] [--action-format F] [--max-pixels P]
gui-grpo sft   --model PATH --demos DIR --out DIR [--epochs E] [--lr LR] [--batch B] [--lora | --full]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gui_grpo.cli.main import UserError


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    d = subparsers.add_parser(
        "demos",
        help="record oracle demonstrations as (prompt, target) pairs for one model's prompts",
        description="Play each template's oracle on PhoneSim and store every step as the prompt the model "
        "would see and the oracle action as it would write it (JSONL + PNG, with a manifest).",
    )
    d.add_argument("--model", required=True, type=Path, help="checkpoint whose processor builds the prompts")
    d.add_argument("--suite", default="smoke", help="task suite (default smoke)")
    d.add_argument("--split", choices=["train", "test", "heldout", "all"], default="train")
    d.add_argument("--seeds", type=_positive, default=20, help="episodes per template (default 20)")
    d.add_argument("--first-seed", type=int, default=0, help="first parameter seed to consider")
    d.add_argument("--out", required=True, type=Path, help="output directory (replaced atomically)")
    d.add_argument("--observation", choices=["pixels", "pixels+elements"], default="pixels+elements")
    d.add_argument("--action-format", choices=["mobile_use", "mobile_use_norm1000", "json"], default="json")
    d.add_argument("--max-pixels", type=_positive, default=40_000, help="screenshot pixel budget")
    d.add_argument("--sim-resolution", dest="resolution", choices=("default", "small"),
                   default="small", help="PhoneSim screen size (default small)")
    d.add_argument("--resolution", dest="resolution", choices=("default", "small"),
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the old name
    d.set_defaults(func=run_demos)

    s = subparsers.add_parser(
        "sft",
        help="supervised warm start on demonstrations (before GRPO)",
        description="Cross-entropy on the demos' completion tokens. A tiny model is trained in full and "
        "saved as a new base checkpoint; a real checkpoint gets a LoRA saved as an adapter (pass it to "
        "`gui-grpo train --adapter`, which merges it before GRPO).",
    )
    s.add_argument("--model", required=True, type=Path, help="base checkpoint directory")
    s.add_argument("--demos", required=True, type=Path, help="directory written by `gui-grpo demos`")
    s.add_argument("--out", required=True, type=Path, help="where to write the warm start")
    s.add_argument("--epochs", type=_positive, default=20)
    s.add_argument("--lr", type=float, default=None, help="default 1e-3 (full) or 2e-4 (LoRA)")
    s.add_argument("--batch", type=_positive, default=8, help="demo steps per optimizer step")
    s.add_argument("--micro-batch", type=_positive, default=4, help="steps per forward pass")
    mode = s.add_mutually_exclusive_group()
    mode.add_argument(
        "--lora", action="store_true", help="train a LoRA adapter (default for real checkpoints)"
    )
    mode.add_argument("--full", action="store_true", help="train all weights (default for tiny models)")
    s.add_argument("--lora-r", type=_positive, default=None, help="LoRA rank (implies --lora; default 16)")
    s.add_argument("--patience", type=int, default=3, help="epochs without a 1%% better loss before stopping")
    s.add_argument("--max-minutes", type=float, default=10.0, help="training time budget")
    s.add_argument("--eval-instances", type=int, default=16, help="held-out instances played before/after")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--torch-device", dest="device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="where the model runs (default auto: cuda when there is one)")
    s.add_argument("--device", dest="device", choices=["auto", "cpu", "cuda"], default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the old name
    s.set_defaults(func=run_sft)


def run_demos(args: argparse.Namespace) -> int:
    from gui_grpo.policy.model import ModelLoadError, detect_family
    from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
    from gui_grpo.train.demos import DemoError, build_manifest, record_demos, write_demos
    from tasks.base import TaskError

    try:
        family = detect_family(args.model)
        from transformers import AutoProcessor

        processor = AutoProcessor.from_pretrained(args.model)
        cfg = PromptConfig(
            observation=args.observation, action_format=args.action_format, max_pixels=args.max_pixels
        )
        builder = PromptBuilder(processor, family, cfg)
        demos, episodes = record_demos(
            builder,
            suite=args.suite,
            split=args.split,
            seeds=args.seeds,
            first_seed=args.first_seed,
            resolution=args.resolution,
        )
    except (ModelLoadError, TaskError, DemoError, ValueError, OSError) as e:
        raise UserError(str(e)) from e
    if not demos:
        raise UserError(f"no oracle episode of suite {args.suite!r} succeeded: nothing to write")
    manifest = build_manifest(
        builder,
        suite=args.suite,
        split=args.split,
        seeds=args.seeds,
        model=str(args.model),
        first_seed=args.first_seed,
        resolution=args.resolution,
    )
    write_demos(args.out, demos, episodes, manifest)
    kept = sum(e["kept"] for e in episodes)
    print(f"wrote {len(demos)} steps of {kept}/{len(episodes)} oracle episodes to {args.out}")
    return 0


def run_sft(args: argparse.Namespace) -> int:
    from gui_grpo.policy.model import AdapterConfig, ModelLoadError
    from gui_grpo.train.demos import DemoError, load_demos
    from gui_grpo.train.sft import SftConfig, SftError, prompt_flags, run_sft

    if args.full:
        adapter: AdapterConfig | None = AdapterConfig(full_finetune=True)
    elif args.lora or args.lora_r is not None:
        rank = args.lora_r or 16
        adapter = AdapterConfig(r=rank, alpha=2 * rank)
    else:
        adapter = None  # full for a tiny model, LoRA otherwise
    try:
        demos = load_demos(args.demos)
        cfg = SftConfig(
            model=str(args.model),
            out=str(args.out),
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch,
            micro_batch=args.micro_batch,
            adapter=adapter,
            patience=args.patience,
            max_minutes=args.max_minutes,
            eval_instances=args.eval_instances,
            seed=args.seed,
            device=args.device,
        )
        result = run_sft(cfg, demos)
    except (DemoError, SftError, ModelLoadError) as e:
        raise UserError(str(e)) from e
    flags = prompt_flags(demos.prompt_config)
    if result.full:
        nxt = f"gui-grpo train --model {result.out} --suite {demos.manifest['suite']} {flags}"
    else:
        nxt = f"gui-grpo train --model {args.model} --adapter {result.out} {flags}"
    print(f"warm start saved in {result.out}; continue with GRPO:\n  {nxt}")
    return 0
