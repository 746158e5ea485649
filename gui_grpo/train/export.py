"""Export: merge a LoRA adapter into its base weights and save a standard checkpoint.

The result loads with ``AutoModelForImageTextToText.from_pretrained`` (and vLLM) without peft, and carries
the base's processor and the adapter's ``gui_grpo.json`` so prompts are built exactly as in training.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from gui_grpo.policy.model import ModelLoadError, load_policy
from gui_grpo.policy.usage import load_usage, save_usage, usage_of


class ExportError(Exception):
    """The adapter or the output directory cannot be used; the message says how to fix it."""


def adapter_base(adapter: Path) -> str:
    """The base checkpoint an adapter was trained on: the absolute path in its ``gui_grpo.json``, else the
    one in its ``adapter_config.json``."""
    usage = load_usage(adapter)
    if usage is not None and usage.base_model:
        return usage.base_model
    config = adapter / "adapter_config.json"
    if not config.is_file():
        raise ExportError(f"{adapter} has no adapter_config.json: pass a directory holding a LoRA adapter")
    base = json.loads(config.read_text()).get("base_model_name_or_path")
    if not base:
        raise ExportError(f"{config} does not name its base model: pass --model BASE")
    return str(base)


def export_merged(
    adapter: str | Path,
    out: str | Path,
    base: str | Path | None = None,
    dtype: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Merge ``adapter`` into ``base`` (default: the base recorded in the adapter) and save to ``out``.

    Written to a temporary sibling directory first, then renamed, so ``out`` is never half-written.
    """
    adapter, out = Path(adapter), Path(out)
    base = Path(base) if base is not None else Path(adapter_base(adapter))
    if not base.is_dir():
        raise ExportError(
            f"base model {base} does not exist; pass --model PATH of the checkpoint the adapter "
            "was trained on"
        )
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out} exists and is not empty; choose another --out or pass --force")
    try:
        model, processor, _ = load_policy(base, dtype=dtype, device="cpu", adapter=adapter)
    except ModelLoadError as e:
        raise ExportError(str(e)) from e
    merged = model.merge_and_unload()
    tmp = out.with_name(out.name + ".tmp-export")
    if tmp.exists():
        shutil.rmtree(tmp)
    merged.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    usage, _ = usage_of(base, adapter)
    if usage is not None:  # the merged model is used as the adapter was trained
        save_usage(tmp, dataclasses.replace(usage, trained_by="export", base_model=None))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
