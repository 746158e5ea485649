"""Ray rollout workers on a local loopback cluster: the same actions as in-process rollouts, weights synced
after each update, and a worker killed mid-run replaced with its episodes counted as lost."""

from __future__ import annotations

import pytest
import torch

from gui_grpo.train.config import ConfigError, apply_overrides, config_from_dict
from gui_grpo.train.samples import Sample
from gui_grpo.train.trainer import Trainer

ray = pytest.importorskip("ray", reason="the ray extra is not installed")

PROMPT = {"observation": "pixels+elements", "action_format": "json", "max_pixels": 28 * 28 * 16}


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance for the module (its start is the slow part), loopback only."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def trainer(cluster, tiny_model_dir, tmp_path_factory):
    torch.set_num_threads(1)
    data = {
        "model": tiny_model_dir,
        "out": str(tmp_path_factory.mktemp("ray-run")),
        "device": "cpu",
        "dtype": "float32",
        "progress_bar": False,
        "lora": {"r": 4, "alpha": 8},
        "optim": {"lr": 5e-2},
        "rollout": {
            "devices": "sim:2", "workers": 2, "groups_per_step": 3, "group_size": 2, "max_new_tokens": 12,
            "max_steps": 2, "worker_timeout_s": 120,
        },
        "prompt": PROMPT,
    }
    t = Trainer(config_from_dict(data))
    yield t
    t.close()


def actions(results) -> list:
    return [(r.group, r.member, [s.completion_ids for s in r.steps], r.summary()["actions"]) for r in results]


def in_process(trainer: Trainer, step: int) -> list:
    pool, trainer.rollout_pool = trainer.rollout_pool, None
    try:
        return trainer.collect(step)
    finally:
        trainer.rollout_pool = pool


def test_workers_choose_the_in_process_actions_before_and_after_an_update(trainer):
    local = in_process(trainer, step=0)
    remote = trainer.collect(step=0)
    assert len(remote) == 6 and all(r.lost is None for r in remote)
    assert actions(remote) == actions(local)
    # An update changes the weights; the next collect sends them and the workers follow.
    samples = [Sample(s, 1.0 if r.member == 0 else -1.0, 1.0) for r in local for s in r.steps]
    trainer.update(samples)
    after_local = in_process(trainer, step=0)
    assert actions(after_local) != actions(local)  # the update changed what the policy samples
    assert actions(trainer.collect(step=0)) == actions(after_local)


def test_a_worker_killed_mid_run_is_replaced_and_its_episodes_lost(trainer, monkeypatch):
    pool = trainer.rollout_pool
    victim = pool.actors[0]
    gather = pool._gather

    def kill_in_flight(index, part, ref, deadline):  # every worker has its groups and is playing them
        if index == 0:
            ray.kill(victim, no_restart=True)
        return gather(index, part, ref, deadline)

    monkeypatch.setattr(pool, "_gather", kill_in_flight)
    results = trainer.collect(step=1)
    monkeypatch.undo()
    # Worker 0 played groups 0 and 1 (its device share is half of sim:2, groups split 2/1).
    lost = [r for r in results if r.lost is not None]
    assert {(r.group, r.member) for r in lost} == {(g, m) for g in (0, 1) for m in (0, 1)}
    assert all("worker 0" in r.lost and r.end_reason == "lost" for r in lost)
    assert [r.lost for r in results if r.group == 2] == [None, None]
    assert pool.replaced == 1 and pool.actors[0] is not victim
    # The replacement holds the current weights: the run goes on with the in-process actions.
    assert actions(trainer.collect(step=2)) == actions(in_process(trainer, step=2))


def test_worker_settings_are_checked():
    base = {"model": "m", "rollout": {"devices": "sim:1", "workers": 2}}
    with pytest.raises(ConfigError, match="devices sim:2"):
        config_from_dict(base)
    with pytest.raises(ConfigError, match="worker_cpus"):
        config_from_dict(apply_overrides(base, {"rollout.devices": "sim:2", "rollout.worker_cpus": 0}))
