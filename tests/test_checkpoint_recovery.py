"""Damaged checkpoints and kills mid-save: resume finds the newest intact checkpoint, says what it skipped,
or stops with one line; a kill at any point of a save leaves a complete checkpoint of the old or new step."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_checkpoint import _save, _setup, _train_step

from gui_grpo.train import checkpoint

STATE, WEIGHTS, CONFIG = checkpoint.STATE_FILE, checkpoint.WEIGHTS_FILE, "train_config.json"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - 8] ^= 0xFF  # inside the tensor data: the header still parses
    path.write_bytes(bytes(data))


def _drop_optimizer(path: Path) -> None:
    state = torch.load(path, weights_only=False)
    del state["optimizer"]
    torch.save(state, path)


DAMAGE = {
    "truncated state": (STATE, _truncate),
    "empty state": (STATE, lambda p: p.write_bytes(b"")),
    "state missing keys": (STATE, _drop_optimizer),
    "truncated weights": (WEIGHTS, _truncate),
    "flipped byte in weights": (WEIGHTS, _flip_middle_byte),
    "truncated config": (CONFIG, _truncate),
    "missing config": (CONFIG, Path.unlink),
}


@pytest.fixture
def two_steps(tmp_path: Path) -> Path:
    """A run with intact checkpoints of steps 1 and 2 (config ``{"seed": 1}``)."""
    model, opt, sched = _setup()
    for step in (1, 2):
        _train_step(model, opt, sched)
        checkpoint.save_checkpoint(
            tmp_path, step, model=model, optimizer=opt, scheduler=sched, config_json='{"seed": 1}'
        )
    return tmp_path


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_is_named_and_skipped(two_steps, damage):
    name, spoil = DAMAGE[damage]
    spoil(two_steps / "checkpoints" / "step-000002" / name)
    found = checkpoint.find_resumable(two_steps)
    assert found.path.name == "step-000001" and found.state["step"] == 1 and found.config == {"seed": 1}
    assert "step-000002" in found.note and name in found.note and "resuming from step-000001" in found.note
    assert "\n" not in found.note


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_without_a_manifest_what_can_be_checked_is_checked(two_steps, damage):
    for step in ("step-000001", "step-000002"):
        (two_steps / "checkpoints" / step / "manifest.json").unlink()  # as saved before manifests
    found = checkpoint.find_resumable(two_steps)
    assert found.path.name == "step-000002" and "no manifest" in found.note
    name, spoil = DAMAGE[damage]
    spoil(two_steps / "checkpoints" / "step-000002" / name)
    if damage == "flipped byte in weights":  # only a checksum can see this one
        assert checkpoint.find_resumable(two_steps).path.name == "step-000002"
        return
    found = checkpoint.find_resumable(two_steps)
    assert found.path.name == "step-000001" and name in found.note and "no manifest" in found.note


def test_no_intact_checkpoint_is_one_clear_error(two_steps):
    _truncate(two_steps / "checkpoints" / "step-000002" / STATE)
    _truncate(two_steps / "checkpoints" / "step-000001" / WEIGHTS)
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.find_resumable(two_steps)
    message = str(err.value)
    assert "no intact checkpoint" in message and "\n" not in message
    assert f"step-000002: {STATE}" in message and f"step-000001: {WEIGHTS}" in message
    with pytest.raises(checkpoint.CheckpointError, match=STATE):
        checkpoint.load_state(two_steps / "checkpoints" / "step-000002")
    assert checkpoint.find_resumable(two_steps / "nowhere") is None


def test_the_manifest_lists_every_file_with_size_and_sha256(two_steps):
    path = two_steps / "checkpoints" / "step-000002"
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["step"] == 2
    assert set(manifest["files"]) == {p.name for p in path.iterdir()} - {"manifest.json"}
    entry = manifest["files"][WEIGHTS]
    assert entry["size"] == (path / WEIGHTS).stat().st_size and len(entry["sha256"]) == 64


def test_a_stale_latest_pointer_does_not_win(two_steps):
    (two_steps / "checkpoints" / "latest").write_text("step-000001")  # a kill before the pointer moved
    assert checkpoint.latest_checkpoint(two_steps).name == "step-000002"
    assert checkpoint.find_resumable(two_steps).path.name == "step-000002"


# -- a kill at every point of a save ------------------------------------------------------------------------

KILLER = textwrap.dedent(
    """
    import json, os, shutil, sys, torch
    torch.set_num_threads(1)  # the children are forked: no thread pool to inherit
    sys.path.insert(0, {tests!r})
    from test_checkpoint import _setup, _train_step, _save
    from gui_grpo.train import checkpoint
    root = {root!r}
    model, opt, sched = _setup()
    _train_step(model, opt, sched)
    _save(root + "/pristine", 1, model, opt, sched, keep=1)
    torch.save(model.state_dict(), root + "/old.pt")
    _train_step(model, opt, sched)
    torch.save(model.state_dict(), root + "/new.pt")
    trials = []
    for new_step in (2, 1):  # a new step, and the same step saved again
        for kill_at in range(100):
            trial = f"{{root}}/trial-{{new_step}}-{{kill_at}}"
            shutil.copytree(root + "/pristine", trial)
            seen = []
            def hook(point):
                seen.append(point)
                if len(seen) - 1 == kill_at:
                    with open(trial + ".point", "w") as f:
                        f.write(point)
                    os._exit(17)
            pid = os.fork()
            if pid == 0:
                checkpoint.save_hook = hook
                _save(trial, new_step, model, opt, sched, keep=1)
                os._exit(0)
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            if code == 0:
                shutil.rmtree(trial)
                break
            assert code == 17, code
            trials.append([trial, new_step, open(trial + ".point").read()])
    print(json.dumps(trials))
    """
)


def test_a_kill_at_any_point_of_a_save_leaves_the_old_or_the_new_step(tmp_path):
    script = KILLER.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    trials = json.loads(proc.stdout.strip().splitlines()[-1])
    points = {point for _, _, point in trials}
    assert points == set(checkpoint.SAVE_POINTS), points
    old, new = torch.load(tmp_path / "old.pt"), torch.load(tmp_path / "new.pt")
    for trial, new_step, point in trials:
        found = checkpoint.find_resumable(trial)
        assert found is not None and found.note is None, (trial, point)
        model, opt, sched = _setup(seed=1)
        checkpoint.load_trainable(model, found.path)
        opt.load_state_dict(found.state["optimizer"])
        published = point in ("published", "latest-tmp-written", "latest-replaced", "discarding")
        want = new if published else old
        assert torch.equal(model[1].weight, want["1.weight"]), (trial, point)
        assert found.state["step"] == (new_step if published else 1), (trial, point)
        # The run goes on: the next save is complete and clears what the kill left behind.
        _train_step(model, opt, sched)
        _save(trial, 3, model, opt, sched, keep=1)
        names = sorted(p.name for p in (Path(trial) / "checkpoints").iterdir())
        assert names == ["latest", "step-000003"], (trial, point, names)
        assert checkpoint.find_resumable(trial).path.name == "step-000003"


# -- through the trainer and the CLI ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tiny_model_dir, tmp_path_factory) -> Path:
    """A two-step run of the tiny model, checkpointed after each step."""
    from test_trainer import config

    from gui_grpo.train.trainer import Trainer

    out = tmp_path_factory.mktemp("run")
    trainer = Trainer(config(tiny_model_dir, str(out), steps=2, save_every=1, lora__r=4))
    trainer.train()
    return out


def test_resume_falls_back_past_a_damaged_checkpoint_and_goes_on(tiny_run, tmp_path):
    from gui_grpo.train.trainer import Trainer

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    _truncate(run / "checkpoints" / "step-000002" / STATE)
    said: list[str] = []
    resumed = Trainer.resume(run, say=said.append)
    assert resumed.step == 1 and len(said) == 1
    assert "step-000002" in said[0] and STATE in said[0] and "resuming from step-000001" in said[0]
    resumed.train()
    assert resumed.step == 2 and checkpoint.find_resumable(run).note is None


def test_resume_cli_with_no_intact_checkpoint_says_so_in_one_line(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "checkpoints" / "step-000002" / STATE).write_bytes(b"")
    (run / "checkpoints" / "step-000001" / CONFIG).unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "gui_grpo", "train", "--resume", str(run)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("gui-grpo train: error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"step-000002: {STATE}" in proc.stderr and f"step-000001: {CONFIG}" in proc.stderr
