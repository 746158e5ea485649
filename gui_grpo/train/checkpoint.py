"""Crash-consistent training checkpoints: a kill at any moment leaves a complete checkpoint that resume finds.

Layout of ``RUN/checkpoints/step-000042/``::

    adapter_config.json, adapter_model.safetensors  the LoRA (``--adapter DIR`` loads it), or
    config.json, model.safetensors, processor       the full model, for a full fine-tune (``--model DIR``)
    trainable.safetensors                           every trainable tensor by parameter name (for resume)
    trainer_state.pt                                optimizer, scheduler, step, RNG (python, numpy, torch)
    train_config.json                               the run's TrainConfig
    manifest.json                                   {"format": 1, "step": 42, "files": {path: {"size": bytes,
                                                    "sha256": hex}}} for every other file; written last

Saving step N (``save_checkpoint``), each stage a point of ``SAVE_POINTS``:

1. clear the ``.tmp-*`` a killed save left; put a ``.old-step-N`` whose replacement never arrived back;
2. write every file into ``.tmp-step-N``, ``manifest.json`` last; fsync the files and directories;
3. if ``step-N`` exists (the same step saved again), rename it to ``.old-step-N``: it stays a candidate for
   resume until its replacement is in place, so no moment is without a complete checkpoint;
4. rename ``.tmp-step-N`` to ``step-N`` (atomic within a directory) and fsync ``checkpoints/``;
5. replace ``latest`` (temp file, fsync, ``os.replace``, fsync the directory);
6. discard ``.old-step-N`` and the checkpoints beyond ``keep``, each renamed to ``.tmp-*`` before it is
   deleted, so a half-deleted one is never taken for a checkpoint.

Resume (``find_resumable``) does not trust ``latest``, which a kill can leave one step behind: it scans
``step-*`` and ``.old-step-*``, newest first, and takes the first intact one (every file as its manifest
says; state, weights header and config loadable). One saved before manifests existed gets the loadability
checks and a note that it has no manifest.

For tests only: ``save_hook``, when set, is called with each point's name as a save passes it, so a test can
end the process there (``os._exit``); ``GUI_GRPO_SAVE_PAUSE_S`` sleeps that many seconds at
``manifest-written``, so a test can kill the process mid-save.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

CHECKPOINTS = "checkpoints"
LATEST = "latest"
STATE_FILE = "trainer_state.pt"
WEIGHTS_FILE = "trainable.safetensors"
CONFIG_FILE = "train_config.json"
MANIFEST_FILE = "manifest.json"
STATE_KEYS = ("step", "optimizer", "scheduler", "rng")
PAUSE_ENV = "GUI_GRPO_SAVE_PAUSE_S"
SAVE_POINTS = (
    "tmp-created",
    "exported",
    "weights-written",
    "state-written",
    "config-written",
    "manifest-written",
    "old-moved-aside",
    "published",
    "latest-tmp-written",
    "latest-replaced",
    "discarding",
)
save_hook: Callable[[str], None] | None = None  # tests only: called at each of SAVE_POINTS
_NAME = re.compile(r"(\.old-)?step-(\d+)")


class CheckpointError(Exception):
    """No usable checkpoint where one was expected; the message says which file and what to do."""


@dataclass(frozen=True)
class Resumable:
    """The checkpoint a resume starts from, its loaded state and config, and a line for the user (or None)."""

    path: Path
    state: dict[str, Any]
    config: dict[str, Any]
    note: str | None


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
    try:
        saved = load_file(str(path / WEIGHTS_FILE))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: {WEIGHTS_FILE} does not load ({e})") from e
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


# -- saving --------------------------------------------------------------------------------------------------


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
    """Write checkpoint ``step`` under ``run_dir/checkpoints``, crash-consistently; returns its directory.

    ``export`` writes the usable model files (adapter or full weights, processor) into the directory.
    """
    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    _recover(root)
    name = f"step-{step:06d}"
    tmp = root / f".tmp-{name}"
    tmp.mkdir()
    _reach("tmp-created")
    if export is not None:
        export(tmp)
    _reach("exported")
    save_file(trainable_state(model), str(tmp / WEIGHTS_FILE))
    _reach("weights-written")
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "extra": extra or {},
    }
    torch.save(state, tmp / STATE_FILE)
    _reach("state-written")
    (tmp / CONFIG_FILE).write_text(config_json)
    _reach("config-written")
    write_manifest(tmp, step)
    _fsync_tree(tmp)
    _reach("manifest-written")
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)
    if pause > 0:
        time.sleep(pause)
    return _publish(root, tmp, name, keep)


def _publish(root: Path, tmp: Path, name: str, keep: int) -> Path:
    """Steps 3-6 of the save: the new directory replaces any old one of its step without a gap."""
    final, old = root / name, root / f".old-{name}"
    if final.exists():  # the same step saved again (e.g. after a resume): moved aside, not deleted yet
        final.rename(old)
        _fsync_dir(root)
        _reach("old-moved-aside")
    tmp.rename(final)
    _fsync_dir(root)
    _reach("published")
    _write_atomic(root / LATEST, name)
    _reach("latest-replaced")
    if old.exists():
        _discard(old)
    for stale in _published(root)[keep:]:
        if stale != final:
            _discard(stale)
    return final


def write_manifest(path: Path, step: int) -> None:
    """``manifest.json`` in ``path``: the size and sha256 of every file already there."""
    files = {
        p.relative_to(path).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(path.rglob("*"))
        if p.is_file() and p != path / MANIFEST_FILE
    }
    text = json.dumps({"format": 1, "step": step, "files": files}, indent=1)
    (path / MANIFEST_FILE).write_text(text + "\n")


def _recover(root: Path) -> None:
    """Undo what a killed save left: ``.tmp-*`` go, an ``.old-step-N`` with no ``step-N`` goes back."""
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    for old in root.glob(".old-step-*"):
        final = root / old.name.removeprefix(".old-")
        if final.exists():
            _discard(old)
        else:
            old.rename(final)
            _fsync_dir(root)


def _discard(path: Path) -> None:
    """Delete a checkpoint directory; renamed to ``.tmp-*`` first so that no half of it looks like one."""
    doomed = path.with_name(f".tmp-del-{path.name.lstrip('.')}")
    path.rename(doomed)
    _fsync_dir(path.parent)
    _reach("discarding")
    shutil.rmtree(doomed, ignore_errors=True)


def _reach(point: str) -> None:
    if save_hook is not None:
        save_hook(point)


# -- finding and checking ------------------------------------------------------------------------------------


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest checkpoint of a run that has its state and weights files, or None; found by a scan (the
    ``latest`` pointer may lag). ``find_resumable`` also checks the files."""
    done = [p for p in _candidates(Path(run_dir) / CHECKPOINTS) if _complete(p)]
    return done[0] if done else None


def find_resumable(run_dir: str | Path) -> Resumable | None:
    """The newest intact checkpoint of a run, loaded; None when the run has none at all.

    Damaged checkpoints newer than it are named in ``note``; raises ``CheckpointError`` when every
    checkpoint is damaged.
    """
    damaged = []
    for path in _candidates(Path(run_dir) / CHECKPOINTS):
        try:
            has_manifest = check_manifest(path)
            state, config = _read(path)
        except CheckpointError as e:
            damaged.append((path.name, str(e)))
            continue
        notes = [f"{name} is damaged ({why})" for name, why in damaged]
        if not has_manifest:
            notes.append(f"{path.name} has no {MANIFEST_FILE} (saved before manifests; its files load)")
        if notes:
            notes.append(f"resuming from {path.name}")
        return Resumable(path, state, config, "; ".join(notes) if notes else None)
    if damaged:
        raise CheckpointError(
            f"{run_dir} has no intact checkpoint to resume from "
            f"({'; '.join(f'{name}: {why}' for name, why in damaged)}); "
            "start a new run, or repair the files"
        )
    return None


def check_manifest(path: Path) -> bool:
    """Every file listed in ``path``'s manifest has its size and sha256; False when there is no manifest.

    Raises ``CheckpointError`` naming the first file that does not match.
    """
    manifest = path / MANIFEST_FILE
    if not manifest.is_file():
        return False
    try:
        listed = json.loads(manifest.read_text())["files"]
        files = {str(rel): (int(want["size"]), str(want["sha256"])) for rel, want in listed.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{MANIFEST_FILE} does not parse ({e!r})") from e
    for rel, (size, sha256) in files.items():
        file = path / rel
        if not file.is_file():
            raise CheckpointError(f"{rel} is missing")
        if file.stat().st_size != size:
            raise CheckpointError(f"{rel} has {file.stat().st_size} bytes, the manifest says {size}")
        if _sha256(file) != sha256:
            raise CheckpointError(f"{rel} does not match its sha256 in the manifest")
    return True


def load_state(path: str | Path) -> dict[str, Any]:
    """The trainer state (optimizer, scheduler, RNG, step) of a checkpoint."""
    path = Path(path)
    if not _complete(path):
        raise CheckpointError(f"{path} is not a complete checkpoint (no {STATE_FILE} or {WEIGHTS_FILE})")
    try:
        return _load_state(path)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from e


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The state and config of a checkpoint, after checking that its weights header reads."""
    for name in (WEIGHTS_FILE, STATE_FILE, CONFIG_FILE):
        if not (path / name).is_file():
            raise CheckpointError(f"{name} is missing")
    try:
        with safe_open(str(path / WEIGHTS_FILE), "pt"):
            pass
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{WEIGHTS_FILE} does not load ({e})") from e
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{CONFIG_FILE} does not parse ({e})") from e
    if not isinstance(config, dict):
        raise CheckpointError(f"{CONFIG_FILE} is not a JSON object")
    return _load_state(path), config


def _load_state(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as e:
        raise CheckpointError(f"{STATE_FILE} does not load ({type(e).__name__}: {str(e)[:80]})") from e
    missing = [k for k in STATE_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{STATE_FILE} lacks {', '.join(missing)}")
    return state


def _candidates(root: Path) -> list[Path]:
    """Checkpoint directories, newest step first; a published ``step-N`` before a moved-aside one."""
    found = []
    for p in root.glob("*step-*") if root.is_dir() else []:
        match = _NAME.fullmatch(p.name)
        if match and p.is_dir():
            found.append((int(match.group(2)), match.group(1) is None, p))
    return [p for *_, p in sorted(found, reverse=True)]


def _published(root: Path) -> list[Path]:
    return [p for p in _candidates(root) if not p.name.startswith(".")]


def _complete(path: Path) -> bool:
    return (path / STATE_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    _reach("latest-tmp-written")
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
