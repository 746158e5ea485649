"""Atomic training checkpoints: a kill at any moment leaves the last good checkpoint loadable.

Layout of ``RUN/checkpoints/step-000042/``::

    adapter_config.json, adapter_model.safetensors  the LoRA (``--adapter DIR`` loads it), or
    config.json, model.safetensors, processor       the full model, for a full fine-tune (``--model DIR``)
    trainable.safetensors                           every trainable tensor by parameter name (for resume)
    trainer_state.pt                                optimizer, scheduler, step, RNG (python, numpy, torch)
    train_config.json                               the run's TrainConfig

A checkpoint is written into ``checkpoints/.tmp-step-000042`` with every file fsynced, then renamed into
place (a rename within one directory is atomic on POSIX) and the directory fsynced; only then is the
``latest`` pointer replaced (write + ``os.replace``) and older checkpoints beyond ``keep`` removed. A
half-written ``.tmp-*`` directory is never read and is cleared by the next save.

``GUI_GRPO_SAVE_PAUSE_S`` (tests only) sleeps that many seconds inside a save, after the weights are
written and before the rename, so a test can kill the process mid-save.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
LATEST = "latest"
STATE_FILE = "trainer_state.pt"
WEIGHTS_FILE = "trainable.safetensors"
PAUSE_ENV = "GUI_GRPO_SAVE_PAUSE_S"


class CheckpointError(Exception):
    """No usable checkpoint where one was expected; the message says what to do."""


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter that requires grad, by name, detached and contiguous."""
    return {n: p.detach().contiguous() for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: torch.nn.Module, path: Path) -> None:
    """Copy the tensors of ``trainable.safetensors`` into the model's parameters of the same names."""
    saved = load_file(str(path / WEIGHTS_FILE))
    params = dict(model.named_parameters())
    missing = sorted(n for n, p in params.items() if p.requires_grad and n not in saved)
    unknown = sorted(set(saved) - set(params))
    if missing or unknown:
        raise CheckpointError(
            f"{path} does not fit this model ({len(missing)} trainable tensors missing, {len(unknown)} "
            f"unknown, e.g. {(missing + unknown)[:2]}): resume with the run's own config (model, lora)"
        )
    with torch.no_grad():
        for name, tensor in saved.items():
            params[name].copy_(tensor)


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    config_json: str,
    export: Callable[[Path], None] | None = None,
    extra: dict[str, Any] | None = None,
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` under ``run_dir/checkpoints`` atomically; returns its directory.

    ``export`` writes the usable model files (adapter or full weights, processor) into the directory.
    """
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    name = f"step-{step:06d}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    if export is not None:
        export(tmp)
    save_file(trainable_state(model), str(tmp / WEIGHTS_FILE))
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "extra": extra or {},
    }
    torch.save(state, tmp / STATE_FILE)
    (tmp / "train_config.json").write_text(config_json)
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if pause > 0:
        time.sleep(pause)
    _fsync_tree(tmp)
    final = root / name
    if final.exists():  # the same step saved again (e.g. after a resume): move the old one aside first
        old = root / f".tmp-old-{name}"
        final.rename(old)
        shutil.rmtree(old)
    tmp.rename(final)
    _fsync_dir(root)
    _write_atomic(root / LATEST, name)
    _prune(root, keep, newest=final)
    return final


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None. Follows ``latest``; falls back to a scan."""
    root = Path(run_dir) / CHECKPOINTS
    pointer = root / LATEST
    if pointer.is_file():
        candidate = root / pointer.read_text().strip()
        if _complete(candidate):
            return candidate
    done = sorted(p for p in root.glob("step-*") if _complete(p))
    return done[-1] if done else None


def load_state(path: str | Path) -> dict[str, Any]:
    """The trainer state (optimizer, scheduler, RNG, step) of a checkpoint."""
    path = Path(path)
    if not _complete(path):
        raise CheckpointError(f"{path} is not a complete checkpoint (no {STATE_FILE} or {WEIGHTS_FILE})")
    return torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)


def _complete(path: Path) -> bool:
    return (path / STATE_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def _prune(root: Path, keep: int, newest: Path) -> None:
    done = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in done[:-keep]:
        if old != newest:
            shutil.rmtree(old, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
    for d in [path, *(p for p in path.rglob("*") if p.is_dir())]:
        _fsync_dir(d)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
