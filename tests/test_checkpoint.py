"""Atomic checkpoints: a kill in the middle of a save leaves the previous checkpoint whole and loadable."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from gui_grpo.train import checkpoint


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def _setup(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer, object]:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    model[0].requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    return model, opt, sched


def _train_step(model, opt, sched) -> None:
    loss = model(torch.randn(5, 4)).pow(2).sum()
    loss.backward()
    opt.step()
    opt.zero_grad()
    sched.step()


def _save(run: Path, step: int, model, opt, sched, keep: int = 2) -> Path:
    return checkpoint.save_checkpoint(
        run, step, model=model, optimizer=opt, scheduler=sched, config_json="{}", keep=keep
    )


def test_save_and_load_restore_weights_optimizer_scheduler_and_rng(tmp_path):
    model, opt, sched = _setup()
    _train_step(model, opt, sched)
    path = _save(tmp_path, 1, model, opt, sched)
    expected_rng = _draws()
    checkpoint.restore_rng(checkpoint.load_state(path)["rng"])
    _train_step(model, opt, sched)
    after_two = {k: v.clone() for k, v in model.state_dict().items()}

    model2, opt2, sched2 = _setup(seed=1)  # different init: everything must come from the checkpoint
    state = checkpoint.load_state(path)
    checkpoint.load_trainable(model2, path)
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    checkpoint.restore_rng(state["rng"])
    assert state["step"] == 1
    assert _draws() == expected_rng
    model2[0].load_state_dict(model[0].state_dict())  # frozen weights come from the base model, not here
    checkpoint.restore_rng(state["rng"])
    _train_step(model2, opt2, sched2)
    for k, v in model2.state_dict().items():
        assert torch.equal(v, after_two[k]), k


def test_latest_and_pruning_keep_the_newest(tmp_path):
    model, opt, sched = _setup()
    for step in (1, 2, 3):
        _train_step(model, opt, sched)
        _save(tmp_path, step, model, opt, sched, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["latest", "step-000002", "step-000003"]
    assert checkpoint.latest_checkpoint(tmp_path).name == "step-000003"
    (tmp_path / "checkpoints" / "latest").unlink()  # the pointer is a convenience; a scan finds the same
    assert checkpoint.latest_checkpoint(tmp_path).name == "step-000003"
    assert checkpoint.latest_checkpoint(tmp_path / "nowhere") is None


def test_a_model_that_does_not_fit_is_refused(tmp_path):
    model, opt, sched = _setup()
    path = _save(tmp_path, 1, model, opt, sched)
    other = torch.nn.Linear(2, 2)
    with pytest.raises(checkpoint.CheckpointError, match="does not fit"):
        checkpoint.load_trainable(other, path)


SAVER = textwrap.dedent(
    """
    import os, sys, torch
    sys.path.insert(0, {tests!r})
    from test_checkpoint import _setup, _train_step, _save
    from gui_grpo.train.checkpoint import PAUSE_ENV
    run = {run!r}
    pause = os.environ.pop(PAUSE_ENV)
    model, opt, sched = _setup()
    _train_step(model, opt, sched)
    _save(run, 1, model, opt, sched)
    torch.save(model.state_dict(), run + "/expected.pt")
    _train_step(model, opt, sched)
    os.environ[PAUSE_ENV] = pause
    print("saving", flush=True)
    _save(run, 2, model, opt, sched)
    print("saved", flush=True)
    """
)


def test_kill_during_save_leaves_the_previous_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    script = SAVER.format(tests=str(Path(__file__).parent), run=str(run))
    env = {**os.environ, checkpoint.PAUSE_ENV: "60"}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "saving"
        tmp = run / "checkpoints" / ".tmp-step-000002"
        deadline = time.time() + 60
        while not (tmp / checkpoint.STATE_FILE).is_file():  # the save is well under way, then paused
            assert time.time() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    latest = checkpoint.latest_checkpoint(run)
    assert latest is not None and latest.name == "step-000001"
    model, opt, sched = _setup(seed=1)
    state = checkpoint.load_state(latest)
    checkpoint.load_trainable(model, latest)
    opt.load_state_dict(state["optimizer"])
    expected = torch.load(run / "expected.pt")
    assert torch.equal(model[1].weight, expected["1.weight"]) and state["step"] == 1
    # The next save clears the half-written directory and completes normally.
    _train_step(model, opt, sched)
    _save(run, 2, model, opt, sched)
    assert checkpoint.latest_checkpoint(run).name == "step-000002"
    assert not list((run / "checkpoints").glob(".tmp-*"))
