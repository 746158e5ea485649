"""``gui-grpo train``: online GRPO on PhoneSim."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from gui_grpo.cli import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a policy with online GRPO on simulated phones",
        description="Online GRPO: roll out groups of episodes on PhoneSim, score them with the task "
        "checkers, update the policy. Flags override --config; the run's full config is saved in OUT.",
    )
    p.add_argument("--model", help="base checkpoint directory (e.g. from `gui-grpo init-model`)")
    p.add_argument("--config", type=Path, help="a config.json of an earlier run to start from")
    p.add_argument("--out", help="run directory (default runs/quickstart)")
    p.add_argument("--adapter", help="an adapter to start from")
    p.add_argument("--suite", help="task suite (default smoke)")
    p.add_argument("--steps", type=int)
    p.add_argument("--groups", type=int, dest="groups_per_step", help="task instances per step (B)")
    p.add_argument("--group-size", type=int, help="episodes per instance (G)")
    p.add_argument("--loss", choices=["grpo", "dr_grpo", "dapo", "gspo"])
    p.add_argument("--lr", type=float)
    p.add_argument("--passes", type=int, help="optimisation passes per batch")
    p.add_argument(
        "--full-finetune",
        action="store_true",
        default=None,
        help="train all language-model weights instead of a LoRA",
    )
    p.add_argument("--observation", choices=["pixels", "pixels+elements"])
    p.add_argument("--action-format", choices=["mobile_use", "mobile_use_norm1000", "json"])
    p.add_argument("--max-pixels", type=int)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--save-every", type=int)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=run)


_PROMPT_FLAGS = {"observation": "observation", "action_format": "action_format", "max_pixels": "max_pixels"}


def build_config(args: argparse.Namespace):  # -> TrainConfig
    from gui_grpo.config import TrainConfig

    data: dict = {}
    if args.config is not None:
        if not args.config.is_file():
            raise UserError(f"config file {args.config} does not exist")
        data = dataclasses.asdict(TrainConfig.load(args.config))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name, value in vars(args).items():
        if value is None or name in ("config", "func", "command"):
            continue
        if name in _PROMPT_FLAGS:
            prompt = dict(data.get("prompt") or {})
            prompt[_PROMPT_FLAGS[name]] = value
            data["prompt"] = prompt
        elif name in fields:
            data[name] = value
    if "model" not in data:
        raise UserError("give --model PATH (build one with `gui-grpo init-model runs/tiny`) or --config")
    if not Path(data["model"]).is_dir():
        model = data["model"]
        raise UserError(f"model directory {model} does not exist; `gui-grpo init-model {model}` builds one")
    try:
        return TrainConfig(**data)
    except (TypeError, ValueError) as e:
        raise UserError(f"bad training config: {e}") from e


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    from gui_grpo.trainer import Trainer

    trainer = Trainer(cfg)
    history = trainer.train()
    last = history[-1] if history else {}
    print(
        f"done: {len(history)} steps, final success rate {last.get('success_rate', 0):.2f}; "
        f"run saved in {cfg.out}"
    )
    return 0
