"""``gui-grpo train``: online GRPO on PhoneSim, or offline step-level GRPO on a JSONL dataset.

With no arguments (or ``--preset NAME``) it runs a preset of the main job (``gui_grpo.cli.quickstart``): build
the tiny model, warm start it on oracle demonstrations, GRPO, and a before/after table.

Settings come from, in order: the defaults, ``--config run.yaml`` (nested sections, see
``gui_grpo.train.config``), ``--set section.key=value`` and the named flags. ``--resume RUN_DIR``
continues a run from its last checkpoint with the saved config (flags may still change e.g. ``--steps``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from gui_grpo.cli.main import UserError

# flag dest -> dotted config path
FLAG_PATHS: dict[str, str] = {
    "model": "model",
    "out": "out",
    "adapter": "adapter",
    "suite": "suite",
    "offline": "offline",
    "offline_eval": "offline_eval",
    "steps": "steps",
    "seed": "seed",
    "eval_every": "eval_every",
    "save_every": "save_every",
    "dtype": "dtype",
    "device": "device",
    "devices": "rollout.devices",
    "rollout_workers": "rollout.workers",
    "groups_per_step": "rollout.groups_per_step",
    "group_size": "rollout.group_size",
    "max_new_tokens": "rollout.max_new_tokens",
    "temperature": "rollout.temperature",
    "loss": "loss.preset",
    "lr": "optim.lr",
    "passes": "optim.passes",
    "lora_r": "lora.r",
    "full_finetune": "lora.full_finetune",
    "observation": "prompt.observation",
    "action_format": "prompt.action_format",
    "max_pixels": "prompt.max_pixels",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a policy with GRPO (online on simulated phones, or offline on a dataset)",
        description="Online GRPO: roll out groups of episodes on PhoneSim, score them with the task "
        "checkers, update the policy. With --offline: step-level GRPO on a JSONL dataset "
        "(docs/OFFLINE_FORMAT.md). Flags override --config; the full config is saved in OUT.",
    )
    p.add_argument(
        "--preset",
        choices=["quickstart", "smoke"],
        help="run a whole preset job (default when no --model/--config/--resume is given: quickstart)",
    )
    p.add_argument("--config", type=Path, help="a YAML or JSON config (sections: rollout, optim, lora, ...)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set any config field by dotted path, e.g. --set loss.overrides.beta=0.04",
    )
    p.add_argument("--model", help="base checkpoint directory (e.g. from `gui-grpo init-model`)")
    p.add_argument("--out", help="run directory (default runs/quickstart)")
    p.add_argument("--adapter", help="an adapter to start from (merged into the base under LoRA)")
    p.add_argument("--suite", help="task suite (default smoke)")
    p.add_argument("--offline", metavar="DATA.jsonl", help="offline step-level GRPO on this dataset")
    p.add_argument("--offline-eval", metavar="DATA.jsonl", help="held-out records for offline evaluation")
    p.add_argument("--devices", help="rollout device spec (online training needs sim:N)")
    p.add_argument(
        "--rollout-workers",
        type=int,
        metavar="N",
        help="play groups on N Ray actors, each with a share of --devices and its own model replica "
        "(needs the ray extra)",
    )
    p.add_argument("--steps", type=int)
    p.add_argument("--groups", type=int, dest="groups_per_step", help="task instances per step (B)")
    p.add_argument("--group-size", type=int, help="episodes per instance (G)")
    p.add_argument("--loss", choices=["grpo", "dr_grpo", "dapo", "gspo"])
    p.add_argument("--lr", type=float)
    p.add_argument("--passes", type=int, help="optimisation passes per batch")
    p.add_argument("--lora-r", type=int)
    p.add_argument(
        "--full-finetune", action="store_true", default=None, help="train all language-model weights"
    )
    p.add_argument("--observation", choices=["pixels", "pixels+elements"])
    p.add_argument("--action-format", choices=["mobile_use", "mobile_use_norm1000", "json"])
    p.add_argument("--max-pixels", type=int)
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--save-every", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16"])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--no-progress", action="store_true", help="one line per step instead of a progress bar")
    p.set_defaults(func=run)


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as dotted-path overrides, each value read as YAML (``2e-4``, ``true``)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: write KEY=VALUE, e.g. --set optim.lr=3e-5")
        out[key.strip()] = yaml.safe_load(value)
    return out


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted-path overrides from ``--set`` and the named flags (flags win)."""
    out = parse_sets(args.set)
    for dest, path in FLAG_PATHS.items():
        value = getattr(args, dest, None)
        if value is not None:
            out[path] = value
    if args.no_progress:
        out["progress_bar"] = False
    return out


def build_config(args: argparse.Namespace) -> Any:  # -> TrainConfig
    """The run's config from the file, ``--set`` and flags; bad values become one-line ``UserError``s."""
    from gui_grpo.train.config import ConfigError, apply_overrides, config_from_dict, load_config

    overrides = overrides_from_args(args)
    try:
        if args.config is not None:
            cfg = load_config(args.config, overrides)
        else:
            if "model" not in overrides:
                raise UserError(
                    "give --model PATH (build one with `gui-grpo init-model runs/tiny`), --config or --resume"
                )
            cfg = config_from_dict(apply_overrides({}, overrides))
    except ConfigError as e:
        raise UserError(f"bad training config: {e}") from e
    check_paths(cfg)
    return cfg


def check_paths(cfg: Any) -> None:
    if not Path(cfg.model).is_dir():
        raise UserError(
            f"model directory {cfg.model} does not exist; `gui-grpo init-model {cfg.model}` builds one"
        )
    if cfg.adapter is not None and not Path(cfg.adapter).is_dir():
        raise UserError(f"adapter directory {cfg.adapter} does not exist")
    for name in ("offline", "offline_eval"):
        path = getattr(cfg, name)
        if path is not None and not Path(path).is_file():
            raise UserError(f"{name} dataset {path} does not exist; `gui-grpo offline-data` exports one")


def _make_trainer(args: argparse.Namespace) -> Any:
    from gui_grpo.policy.model import ModelLoadError
    from gui_grpo.train.checkpoint import CheckpointError
    from gui_grpo.train.config import ConfigError, apply_overrides
    from gui_grpo.train.distributed import DistributedError
    from gui_grpo.train.offline import OfflineFormatError
    from gui_grpo.train.ray_workers import RolloutWorkerError
    from gui_grpo.train.trainer import Trainer, TrainError

    try:
        if args.resume is not None:
            if args.config is not None:
                raise UserError("--resume uses the run's saved config; drop --config")
            overrides = overrides_from_args(args)
            trainer = Trainer.resume(
                args.resume, lambda data: apply_overrides(data, overrides), say=_say_on_stderr
            )
            check_paths(trainer.cfg)
            return trainer
        return Trainer(build_config(args))
    except ConfigError as e:
        raise UserError(f"bad training config: {e}") from e
    except (
        ModelLoadError, TrainError, OfflineFormatError, CheckpointError, DistributedError, RolloutWorkerError
    ) as e:
        raise UserError(str(e)) from e


def _say_on_stderr(line: str) -> None:
    """A resume's one-line note (a damaged checkpoint skipped, or one without a manifest)."""
    print(f"gui-grpo train: {line}", file=sys.stderr)


def run_preset(args: argparse.Namespace) -> int:
    """The main job: warm start + GRPO + before/after evaluation (``gui_grpo.cli.quickstart``)."""
    from gui_grpo.cli.quickstart import PRESETS, run_quickstart

    overrides = overrides_from_args(args)  # --set out=… / seed=… as well as the flags
    extra = [k for k in overrides if k not in ("out", "seed", "progress_bar")]
    if extra:
        raise UserError(
            "--preset runs a fixed job; it takes only --out, --seed and --no-progress "
            f"(got {', '.join(extra)})"
        )
    seed = overrides.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"seed={seed!r}: give a whole number, e.g. --seed 1")
    preset = PRESETS[args.preset or "quickstart"]
    out = overrides.get("out")
    run_quickstart(
        preset.with_options(
            out=None if out is None else str(out), seed=seed, progress_bar=overrides.get("progress_bar")
        )
    )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.preset is not None or (
        args.model is None and args.config is None and args.resume is None and not args.set
    ):
        return run_preset(args)
    trainer = _make_trainer(args)
    start = trainer.step
    try:
        history = trainer.train()
    finally:
        trainer.close()
    last = history[-1] if history else {}
    if trainer.dp.is_main:
        print(
            f"done: steps {start + 1}-{trainer.step}, final success rate {last.get('success_rate', 0):.2f}, "
            f"skipped steps {trainer.skipped_steps}; run saved in {trainer.cfg.out}"
        )
    return 0
