"""Data-parallel learner: device specs split into shares, and 2 gloo ranks updating on their shares of a
fixed batch end with the weights one process gets from the whole batch."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gui_grpo.train.checkpoint import trainable_state
from gui_grpo.train.config import config_from_dict
from gui_grpo.train.distributed import DataParallel, DistributedError, share_blocks, split_device_spec
from gui_grpo.train.samples import Sample
from gui_grpo.train.trainer import Trainer

PROMPT = {"observation": "pixels+elements", "action_format": "json", "max_pixels": 28 * 28 * 24}


def test_device_specs_split_into_contiguous_shares():
    assert split_device_spec("sim:5", 2) == ["sim:3", "sim:2"]
    assert split_device_spec("adb:h:1,h:2,h:3", 2) == ["adb:h:1,h:2", "adb:h:3"]
    assert split_device_spec("serial:a,b,c,d", 4) == ["serial:a", "serial:b", "serial:c", "serial:d"]
    assert split_device_spec("avd:Pixel_6:4", 2) == ["avd:Pixel_6:2", "avd:Pixel_6:2"]
    with pytest.raises(DistributedError, match="sim:3"):
        split_device_spec("sim:2", 3)
    assert share_blocks(5, 2) == [range(0, 3), range(3, 5)]
    assert share_blocks(6, 2, weights=[2, 1]) == [range(0, 4), range(4, 6)]
    assert share_blocks(1, 2) == [range(0, 1), range(1, 1)]


def test_one_process_is_the_identity(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    dp = DataParallel.from_env("cpu")
    assert not dp.active and dp.is_main and dp.share(3) == range(3)
    assert dp.all_sum([1.5, 2]) == [1.5, 2.0] and dp.device_share("sim:4") == "sim:4"
    assert dp.mean_metrics({"loss": 0.5}, 3) == {"loss": 0.5}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(DistributedError, match="torchrun"):
        DataParallel.from_env("cpu")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_config(model: str, out: str) -> dict:
    return {
        "model": model,
        "out": out,
        "device": "cpu",
        "dtype": "float32",
        "progress_bar": False,
        "lora": {"r": 4, "alpha": 8},
        # token_mean: the normaliser is the token count, which differs between the ranks' shares
        "loss": {"preset": "dapo"},
        "optim": {"lr": 1e-3, "passes": 2, "micro_batch_tokens": 400},
        "rollout": {"groups_per_step": 3, "group_size": 2, "max_new_tokens": 12, "max_steps": 1},
        "prompt": PROMPT,
    }


def rank_main(rank: int, world: int, port: int, cfg: dict, batch: str, out: str) -> None:
    """One learner rank: update on its contiguous share of the fixed batch's groups, rank 0 saves."""
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo",
    )
    torch.set_num_threads(1)
    trainer = Trainer(config_from_dict(cfg))
    groups: list[list[Sample]] = pickle.loads(Path(batch).read_bytes())
    mine = [s for g in trainer.dp.share(len(groups)) for s in groups[g]]
    metrics = trainer.update(mine)
    if trainer.dp.is_main:
        torch.save({"state": trainable_state(trainer.model), "metrics": metrics}, out)
    trainer.close()


def test_two_gloo_ranks_match_one_process(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    torch.set_num_threads(1)
    cfg = run_config(tiny_model_dir, str(tmp_path / "one"))
    single = Trainer(config_from_dict(cfg))
    start = {k: v.clone() for k, v in trainable_state(single.model).items()}
    results = single.collect(step=0)
    groups: list[list[Sample]] = [[] for _ in range(3)]
    for r in results:  # a fixed batch with advantages of both signs in every group
        groups[r.group] += [Sample(s, 1.0 if r.member == 0 else -1.0, 1.0) for s in r.steps]
    batch = tmp_path / "batch.pkl"
    batch.write_bytes(pickle.dumps(groups))
    one_metrics = single.update([s for g in groups for s in g])
    one = trainable_state(single.model)

    ctx = mp.get_context("spawn")
    port, out = free_port(), tmp_path / "rank0.pt"
    args = (port, run_config(tiny_model_dir, str(tmp_path)), str(batch), str(out))
    procs = [ctx.Process(target=rank_main, args=(r, 2, *args)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0]
    two = torch.load(out)
    assert set(two["state"]) == set(one)
    moved = max(float((one[k] - start[k]).abs().max()) for k in one)
    assert moved > 1e-4  # the update did something, so equal weights mean equal updates
    for k in one:  # Adam divides by |grad|, which amplifies float noise in near-zero gradients
        torch.testing.assert_close(two["state"][k], one[k], atol=1e-5, rtol=1e-4)
    assert two["metrics"]["loss"] == pytest.approx(one_metrics["loss"], abs=1e-5)


def test_torchrun_train_writes_once(tiny_model_dir, tmp_path):
    """``torchrun --nproc_per_node 2 -m gui_grpo train``: both ranks train, rank 0 alone writes the run."""
    out = tmp_path / "run"
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_addr", "127.0.0.1", "--master_port", str(free_port())]
    proc = subprocess.run(
        [*torchrun, "-m", "gui_grpo", "train", "--model", tiny_model_dir, "--out", str(out), "--steps", "1",
         "--groups", "3", "--group-size", "2", "--max-new-tokens", "8", "--max-pixels", str(28 * 28 * 24),
         "--devices", "sim:2", "--lora-r", "4", "--device", "cpu", "--no-progress",
         "--set", "rollout.max_steps=1"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: steps 1-1") == 1
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["samples"] == 6  # 3 groups x 2 episodes, from both ranks
    assert (out / "final" / "adapter_config.json").is_file()
