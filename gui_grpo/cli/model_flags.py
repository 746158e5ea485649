"""The flags that say how to prompt a model, shared by ``eval`` and ``run``.

They default to the settings the model was trained with (its ``gui_grpo.json``, see
``gui_grpo.policy.usage``); a flag that contradicts them is refused in one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gui_grpo.cli.main import UserError


def add_model_flags(p: argparse.ArgumentParser, *, sim_resolution: bool = True) -> None:
    """``--model``, ``--adapter`` and the prompt flags (all defaulting to the model's own settings)."""
    p.add_argument("--model", required=True, help="checkpoint directory (a warm start, an export, runs/tiny)")
    p.add_argument("--adapter", help="LoRA adapter directory to apply on the model (a run's final/)")
    trained = " (default: what the model was trained with, else %(default_text)s)"
    budget = str(512 * 28 * 28)
    p.add_argument("--observation", choices=["pixels", "pixels+elements"],
                   help="what the prompt shows" + trained % {"default_text": "pixels"})
    p.add_argument("--action-format", choices=["mobile_use", "mobile_use_norm1000", "json"],
                   help="how the model writes actions" + trained % {"default_text": "the family's own"})
    p.add_argument("--max-pixels", type=int,
                   help="screenshot pixel budget of the model" + trained % {"default_text": budget})
    p.add_argument("--max-new-tokens", type=int,
                   help="token cap per model output" + trained % {"default_text": "64"})
    if sim_resolution:
        p.add_argument("--sim-resolution", choices=["small", "default"],
                       help="PhoneSim screen size on sim:N devices" + trained % {"default_text": "small"})


def model_usage(args: argparse.Namespace):  # -> ModelUsage
    """The settings to prompt ``args.model`` (+ ``args.adapter``) with; a contradicting flag is a
    UserError."""
    from gui_grpo.policy.model import ModelLoadError, detect_family
    from gui_grpo.policy.usage import Requested, UsageConflict, UsageError, settle, usage_of

    if not Path(args.model).is_dir():
        raise UserError(f"model directory {args.model} does not exist")
    if args.adapter is not None and not Path(args.adapter).is_dir():
        raise UserError(f"adapter directory {args.adapter} does not exist")
    asked = Requested(args.observation, args.action_format, args.max_pixels, args.max_new_tokens,
                      getattr(args, "sim_resolution", None))
    try:
        usage, source = usage_of(args.model, args.adapter)
        return settle(usage, asked, detect_family(args.model), source)
    except (UsageConflict, UsageError, ModelLoadError) as e:
        raise UserError(str(e)) from e
    except ValueError as e:
        raise UserError(f"bad prompt settings: {e}") from e
