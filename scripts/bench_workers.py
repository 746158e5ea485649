"""Rollout throughput with 1, 2 and 4 Ray rollout workers when device time dominates.

Each worker plays its share of the groups on PhoneSims that sleep ``--latency-ms`` per screenshot and per
action (``SlowSim``), the way an emulator or phone keeps the agent waiting (real screenshots take
0.7-2 s, docs/REFERENCE facts); inference is the tiny model on the CPU. The learner is a real ``Trainer``
whose ``collect`` goes through a ``RayRolloutPool`` of N workers (weights synced as in training); each
figure is actions (device steps) per second over ``--steps`` collects after one warm-up collect.
Target: ≥ 1.7× from 1 to 2 workers. Figures: docs/BENCHMARKS.md. Usage:

    python scripts/bench_workers.py [--workers 1 2 4] [--latency-ms 100] [--groups 8] [--group-size 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time
from typing import Any

from emulators.phonesim import SimDevice


class SlowSim(SimDevice):
    """A PhoneSim that takes ``latency_s`` per screenshot and per action, like a remote device."""

    latency_s = 0.1

    def screenshot(self) -> Any:
        time.sleep(self.latency_s)
        return super().screenshot()

    def execute(self, action: Any) -> None:
        time.sleep(self.latency_s)
        super().execute(action)

    def _copy(self) -> SlowSim:
        twin = super()._copy()
        twin.__class__ = type(self)  # forks of a slow device are slow too
        twin.latency_s = self.latency_s
        return twin


def slow_factory(latency_s: float) -> Any:
    def make(seed: int, resolution: str) -> SimDevice:
        device = SlowSim(seed=seed, resolution=resolution)
        device.latency_s = latency_s
        return device

    return make


def measure(trainer: Any, workers: int, latency_s: float, steps: int) -> dict[str, float]:
    from gui_grpo.train.ray_workers import RayRolloutPool

    rollout = dataclasses.replace(trainer.cfg.rollout, workers=workers, devices=f"sim:{max(4, workers)}")
    t0 = time.perf_counter()
    pool = RayRolloutPool(dataclasses.replace(trainer.cfg, rollout=rollout), slow_factory(latency_s))
    start_s = time.perf_counter() - t0
    trainer.rollout_pool = pool
    try:
        trainer.collect(step=0)  # warm-up: first forward passes, weight sync
        actions = episodes = 0
        t0 = time.perf_counter()
        for step in range(1, steps + 1):
            results = trainer.collect(step=step)
            actions += sum(len(r.steps) for r in results)
            episodes += len(results)
            assert not any(r.lost for r in results), [r.lost for r in results if r.lost]
        wall = time.perf_counter() - t0
    finally:
        trainer.rollout_pool = None
        pool.close()
    return {
        "workers": workers,
        "actions": actions,
        "episodes": episodes,
        "seconds": round(wall, 2),
        "actions_per_s": round(actions / wall, 2),
        "start_s": round(start_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--max-steps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2, help="timed collects per worker count")
    ap.add_argument("--out", help="write the figures as JSON here")
    args = ap.parse_args()

    import ray
    import torch

    from gui_grpo.modeling.build import init_model
    from gui_grpo.train.config import config_from_dict
    from gui_grpo.train.trainer import Trainer

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    torch.set_num_threads(1)
    model = tempfile.mkdtemp(prefix="bench-workers-")
    init_model(model, family="qwen2_5_vl", size="tiny", seed=0)
    cfg = config_from_dict({
        "model": model, "device": "cpu", "dtype": "float32", "progress_bar": False, "lora": {"r": 4},
        "suite": "easy",
        "rollout": {"groups_per_step": args.groups, "group_size": args.group_size, "max_new_tokens": 16,
                    "max_steps": args.max_steps},
        "prompt": {"observation": "pixels+elements", "action_format": "json", "max_pixels": 28 * 28 * 24},
    })
    trainer = Trainer(cfg)
    ray.init(num_cpus=max(args.workers), include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False)
    try:
        rows = [measure(trainer, w, args.latency_ms / 1000, args.steps) for w in args.workers]
    finally:
        ray.shutdown()
    base = rows[0]["actions_per_s"]
    for r in rows:
        r["speedup"] = round(r["actions_per_s"] / base, 2)
        print(json.dumps(r))
    load = os.getloadavg()
    machine = {"latency_ms": args.latency_ms, "cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in load]}
    print(json.dumps(machine))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": rows, "latency_ms": args.latency_ms, "loadavg": load}, f, indent=2)


if __name__ == "__main__":
    main()
