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
import time
from pathlib import Path
from types import SimpleNamespace
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
        choices=["quickstart", "quickstart-v1", "smoke", "miniwob", "miniwob-smoke"],
        help="run a whole preset job (default when no --model/--config/--resume is given: quickstart; "
        "quickstart-v1 is the earlier protocol, with demonstrations of every trained template; miniwob is "
        "the same job on MiniWoB++ web pages, docs/WEB.md)",
    )
    p.add_argument(
        "--eval-split",
        choices=["test", "validation"],
        help="a preset job only: where its table is measured (default test; validation for development, "
        "so that choices are never made on the test split)",
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
    p.add_argument("--out", help="run directory, new or empty (default runs/NAME-<date>-<time>); an existing "
                   "run is continued only with --resume")
    p.add_argument("--name", help="name of the run: its directory is runs/NAME (default train-<date>-<time>)")
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
    _add_training_flags(p)
    p.add_argument("--no-progress", action="store_true", help="one line per step instead of a progress bar")
    p.set_defaults(func=run)


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    """The flags that set single config fields (``FLAG_PATHS``); each says its default."""
    p.add_argument("--steps", type=int, help="optimizer steps (default 20)")
    p.add_argument("--groups", type=int, dest="groups_per_step", help="task instances per step (B)")
    p.add_argument("--group-size", type=int, help="episodes per instance (G)")
    p.add_argument("--loss", choices=["grpo", "dr_grpo", "dapo", "gspo"], help="loss preset (default grpo)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-4)")
    p.add_argument("--passes", type=int, help="optimisation passes per batch")
    p.add_argument("--lora-r", type=int, help="LoRA rank (default 16)")
    p.add_argument(
        "--full-finetune", action="store_true", default=None, help="train all language-model weights"
    )
    p.add_argument("--observation", choices=["pixels", "pixels+elements"],
                   help="what the prompt shows: the screenshot, or it and the numbered elements "
                   "(default pixels)")
    p.add_argument("--action-format", choices=["mobile_use", "mobile_use_norm1000", "json"],
                   help="how the model writes actions (default: the model family's own)")
    p.add_argument("--max-pixels", type=int, help="screenshot pixel budget (default 401408, 512 patches)")
    p.add_argument("--max-new-tokens", type=int, help="token cap per model output (default 64)")
    p.add_argument("--temperature", type=float, help="sampling temperature of rollouts (default 1.0)")
    p.add_argument("--eval-every", type=int,
                   help="held-out greedy evaluation every N steps, logged as eval_* metrics "
                   "(default 0: never)")
    p.add_argument("--save-every", type=int, help="checkpoint every N steps (default 50; 0: only at the end)")
    p.add_argument("--seed", type=int, help="task instances, sim and sampling seeds (default 0)")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16"],
                   help="weights' dtype (default auto: bfloat16 on CUDA, float32 on the CPU)")
    p.add_argument("--torch-device", dest="device", choices=["auto", "cpu", "cuda"],
                   help="where the model runs (default auto: cuda when there is one)")
    p.add_argument("--device", dest="device", choices=["auto", "cpu", "cuda"], default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the old name


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
    """The run's config from the file, ``--set`` and flags; bad values become one-line ``UserError``s. A run
    gets a directory of its own (``--out``, ``runs/NAME`` or ``runs/train-<time>``); paths are saved
    absolute."""
    from gui_grpo.train.config import ConfigError, apply_overrides, config_from_dict, load_config

    overrides = overrides_from_args(args)
    if args.name is not None and "out" in overrides:
        raise UserError("give --name or --out, not both (--name NAME is --out runs/NAME)")
    if "out" not in overrides and not _config_sets_out(args.config):
        overrides["out"] = new_run_dir(args.name)
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
    refuse_existing_run(Path(cfg.out))
    return absolute_paths(cfg)


def _config_sets_out(path: Path | None) -> bool:
    if path is None or not path.is_file():
        return False
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return False  # load_config says what is wrong with it
    return isinstance(data, dict) and data.get("out") is not None


def new_run_dir(name: str | None) -> str:
    """``runs/NAME``, or ``runs/train-<date>-<time>`` (with ``-2``, ``-3``... if that one exists)."""
    if name is not None:
        if not name or "/" in name or name.startswith("."):
            raise UserError(f"--name {name!r}: give a plain name such as lr3e-5 (it becomes runs/NAME)")
        return f"runs/{name}"
    return timestamped("runs/train")


def timestamped(base: str) -> str:
    """``BASE-<date>-<time>``, with ``-2``, ``-3``... if that one exists: a directory no run holds yet."""
    base = f"{base}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = base, 1
    while Path(out).exists():
        n += 1
        out = f"{base}-{n}"
    return out


RUN_FILES = ("config.json", "metrics.jsonl", "checkpoints", "final")


def refuse_existing_run(out: Path) -> None:
    """A ``UserError`` when ``out`` already holds a run: two runs never write into one directory."""
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held:
        raise UserError(f"{out} already holds a run ({', '.join(held)}); continue it with --resume {out}, "
                        "or give another --out or --name")


def absolute_paths(cfg: Any) -> Any:
    """``cfg`` with its model, adapter and dataset paths absolute, so the saved config works from anywhere."""
    import dataclasses

    from gui_grpo.policy.usage import absolute

    paths = {name: absolute(getattr(cfg, name)) for name in ("model", "adapter", "offline", "offline_eval")
             if getattr(cfg, name) is not None}
    return dataclasses.replace(cfg, **paths)


def check_paths(cfg: Any, resumed: Path | None = None) -> None:
    """A one-line ``UserError`` for a path of ``cfg`` that does not exist (``resumed``: the run whose saved
    config it is)."""
    if not Path(cfg.model).is_dir():
        if resumed is not None:
            raise UserError(f"the base model {cfg.model} that {resumed} was trained from does not exist "
                            "(moved or deleted?); pass --model PATH of that checkpoint to resume")
        raise UserError(
            f"model directory {cfg.model} does not exist; `gui-grpo init-model {cfg.model}` builds a tiny "
            "random one there"
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
            if args.name is not None:
                raise UserError("--resume continues the run in RUN_DIR; drop --name")
            overrides = overrides_from_args(args)

            def saved_config(data: dict[str, Any]) -> dict[str, Any]:
                data = apply_overrides(data, overrides)
                paths = {name: data.get(name) for name in ("model", "adapter", "offline", "offline_eval")}
                check_paths(SimpleNamespace(**paths), resumed=args.resume)  # before any weights load
                return data

            return Trainer.resume(args.resume, saved_config, say=_say_on_stderr)
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
            "--preset runs a fixed job; it takes only --out, --seed and --no-progress (or --name for --out) "
            f"(got {', '.join(extra)})"
        )
    seed = overrides.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"seed={seed!r}: give a whole number, e.g. --seed 1")
    preset = PRESETS[args.preset or "quickstart"]
    if args.eval_split is not None:
        preset = preset.with_options(eval_split=args.eval_split)
    out = overrides.get("out")
    if args.name is not None:
        if out is not None:
            raise UserError("give --name or --out, not both (--name NAME is --out runs/NAME)")
        out = new_run_dir(args.name)
    if out is None and _holds_job(Path(preset.out)):  # a second main job gets a directory of its own
        out = timestamped(preset.out)
    elif out is not None and _holds_job(Path(str(out))):
        raise UserError(f"{out} already holds a {preset.name} job; give another --out or --name")
    run_quickstart(
        preset.with_options(
            out=None if out is None else str(out), seed=seed, progress_bar=overrides.get("progress_bar")
        )
    )
    return 0


def _holds_job(out: Path) -> bool:
    return any((out / name).exists() for name in ("quickstart.json", "warm_start", "demos", "grpo"))


def run(args: argparse.Namespace) -> int:
    if args.preset is not None or (
        args.model is None and args.config is None and args.resume is None and not args.set
    ):
        return run_preset(args)
    if args.eval_split is not None:
        raise UserError("--eval-split belongs to a preset job; a GRPO run evaluates on the validation split")
    trainer = _make_trainer(args)
    start = trainer.step
    if args.resume is not None and start >= trainer.cfg.steps:
        trainer.close()
        print(f"{args.resume} is finished: step {start} of {trainer.cfg.steps}, nothing to do; train it "
              f"further with --resume {args.resume} --steps {start + trainer.cfg.steps}")
        return 0
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
