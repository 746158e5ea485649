"""Soak online GRPO: a long run whose rollouts go over ADB to PhoneSims with faults injected; RSS every step.

    python scripts/soak_train.py [--steps 300] [--json FILE] [--refuse-rate 0.05] [--drop-rate 0.01]
                                 [--delay-rate 0.02] [--delay-s 0.05] [--model DIR] [--out DIR]
    python scripts/soak_train.py --in-process   # the control: the trainer's own sims, no ADB, no faults

The model is the tiny Qwen2.5-VL of ``gui-grpo init-model`` (random weights, LoRA, CPU, fp32, one torch
thread by default), trained by the real ``Trainer`` (``Trainer.train``: checkpoints every 50 steps, the
metrics log) on the smoke suite, one group of 2 episodes per step, at most 2 actions an episode, 16 new
tokens a completion, so that a step takes about a second.

Where the faults are. Online training forks each group from one in-process PhoneSim, and the trainer only
accepts ``sim:N`` devices, so there is no ADB in its rollouts. This script swaps the one place that makes
the devices: ``gui_grpo.train.trainer.play_jobs`` (setting up and playing a step's groups) is replaced by
``AdbRollouts``, which for each member of each group starts a fresh ``SimDevice`` with the group's device
seed, serves it on its own ``AdbServer`` (127.0.0.1, a free port, in this process) with a
``FaultPlan`` seeded by (step, group, member), connects an ``AdbDevice`` to it (timeout 5 s, 3 retries) and
hands the devices to ``gui_grpo.rollout.group.start_group_on`` (each member replays the task's setup over
ADB, as on real phones) and ``play_groups`` (no settle pause, 10 s per device call). Everything after the
rollout (scoring, advantages, loss, optimizer, checkpoints) is the trainer's own. Injected, by the servers:

- refused connections: each accepted connection is reset at once with probability ``--refuse-rate``
  (the client retries within its budget);
- drops: each WRTE the server sends is cut in half and the connection dropped with probability
  ``--drop-rate`` (a screenshot is retried; a shell command that may have run is not, and its episode is
  lost, as ``gui_grpo.rollout.step`` rules);
- delays: each message the server sends waits ``--delay-s`` first with probability ``--delay-rate``.

Prints the lost episodes, the skipped steps (non-finite loss, the trainer's ``skipped_steps``) and the steps
without samples (every episode of the step lost or all advantages zero), the faults injected, the wall time
and the slowest step, and the RSS of this process after step 20 and at the end with the growth between them.
A step that runs past ``--step-timeout`` (default 300 s) counts as a hang: every thread's stack is dumped
and the script exits 1. Targets (issue 22): the run completes, no hang, lost episodes counted, RSS growth
<= 5 % after step 20.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import torch

import gui_grpo.train.trainer as trainer_module
from emulators.adb.auth import ensure_key
from emulators.adb.client import AdbDevice
from emulators.adb.faults import FaultPlan
from emulators.adb.server import AdbServer
from emulators.device import AndroidDevice
from emulators.phonesim import SimDevice
from gui_grpo.policy.engine import Policy
from gui_grpo.rollout.group import GroupJob, PlayConfig, play_groups, start_group_on
from gui_grpo.rollout.records import EpisodeResult
from gui_grpo.train.config import TrainConfig, config_from_dict

WARM_UP_STEPS = 20
GROUPS, GROUP_SIZE = 1, 2  # B groups of G episodes a step
MIB = 1 << 20


class AdbRollouts:
    """A stand-in for ``play_jobs`` whose devices are PhoneSims reached over ADB through faulty servers."""

    def __init__(self, key: Path, refuse: float, drop: float, delay: float, delay_s: float) -> None:
        self.key, self.rates = key, {"refuse_rate": refuse, "drop_rate": drop, "delay_rate": delay,
                                     "delay_s": delay_s}
        self.injected: Counter[str] = Counter()
        self.lost_because: Counter[str] = Counter()  # the error type and the gist of why, per lost episode
        self.servers_started = 0

    def _member(self, job: GroupJob, step: int, member: int, resolution: str,
                servers: list[AdbServer]) -> AndroidDevice:
        plan = FaultPlan(seed=(step * 1000 + job.group) * 100 + member, **self.rates)
        server = AdbServer(SimDevice(seed=job.device_seed, resolution=resolution), port=0, faults=plan,
                           io_timeout_s=5.0)
        servers.append(server)
        self.servers_started += 1
        return AdbDevice(server.address, key_path=self.key, timeout_s=5.0, retries=3, backoff_s=0.01,
                         max_backoff_s=0.1)

    def __call__(self, policy: Policy, jobs: list[GroupJob], make_device: Any, resolution: str, *,
                 run_seed: int, step: int, greedy: bool, max_steps: int | None) -> list[EpisodeResult]:
        """``play_jobs``'s signature (``make_device`` is ignored: the devices are made here)."""
        servers: list[AdbServer] = []
        devices: list[AndroidDevice] = []
        try:
            groups = []
            for job in jobs:
                members = [self._member(job, step, m, resolution, servers) for m in range(job.size)]
                devices += members
                groups.append(start_group_on(job.task, job.device_seed, job.group, members, timeout_s=30.0))
            cfg = PlayConfig(max_steps=max_steps, settle_s=0.0, device_timeout_s=10.0)
            results = play_groups(policy, groups, run_seed=run_seed, step=step, greedy=greedy, config=cfg)
            for r in results:
                if r.lost is not None:
                    self.lost_because[_gist(r.lost)] += 1
            return results
        finally:
            for device in devices:
                device.close()
            for server in servers:
                server.close()
                server.device.close()
                if server.config.faults is not None:
                    self.injected.update(server.config.faults.injected)


def _gist(lost: str) -> str:
    """Why an episode was lost without addresses, arguments or detail: ``DeviceUnreachable: 127.0.0.1:42:
    connection broke during `input tap 1 2; echo ...` (it may have run): ...`` as ``DeviceUnreachable:
    connection broke during `input ...` (it may have run)``."""
    text = re.sub(r"`(\w+)[^`]*`", r"`\1 ...`", re.sub(r"[\w.]+:\d+:? ", "", lost))
    text = text.split(" (it may have run)")[0] + " (it may have run)" if "(it may have run)" in text else text
    return re.split(r"; |: \[", text)[0][:100]


def build_config(model: str, out: str, steps: int) -> TrainConfig:
    """The run: tiny groups and episodes so that a step takes about a second on a CPU core."""
    return config_from_dict({
        "model": model, "out": out, "steps": steps, "device": "cpu", "dtype": "float32",
        "progress_bar": False, "save_every": 50, "keep_checkpoints": 2, "suite": "smoke",
        "rollout": {"groups_per_step": GROUPS, "group_size": GROUP_SIZE, "max_new_tokens": 16,
                    "max_steps": 2},
        "prompt": {"observation": "pixels+elements", "action_format": "json", "max_pixels": 28 * 28 * 24},
        "optim": {"lr": 1e-4},
    })


class StepWatch:
    """Stands in for ``Trainer.train_step``: re-arms the hang watchdog at every step (so it also covers the
    checkpoint save after a step), times the step and samples this process's RSS after it."""

    def __init__(self, train_step: Any, timeout_s: float) -> None:
        self.train_step, self.timeout_s = train_step, timeout_s
        self.process = psutil.Process()
        self.rss: list[int] = []
        self.seconds: list[float] = []
        self.threads: list[int] = []  # live threads and open file descriptors after each step: leaks show
        self.fds: list[int] = []

    def __call__(self, step: int) -> dict[str, Any]:
        faulthandler.dump_traceback_later(self.timeout_s, exit=True)
        t0 = time.perf_counter()
        row = self.train_step(step)
        self.seconds.append(time.perf_counter() - t0)
        self.rss.append(self.process.memory_info().rss)
        self.threads.append(threading.active_count())
        self.fds.append(self.process.num_fds())
        return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.steps`` steps with faulty ADB rollouts; the figures."""
    from gui_grpo.modeling.build import init_model

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="soak-train-"))
    try:
        model = args.model
        if model is None:
            model = str(work / "tiny")
            init_model(model, family="qwen2_5_vl", size="tiny", seed=0)
        rollouts = AdbRollouts(ensure_key(work / "adbkey"), args.refuse_rate, args.drop_rate,
                               args.delay_rate, args.delay_s)
        if not args.in_process:
            trainer_module.play_jobs = rollouts  # the rollouts' one device-making call; see the docstring
        trainer = trainer_module.Trainer(build_config(model, str(args.out or work / "run"), args.steps))
        watch = StepWatch(trainer.train_step, args.step_timeout)
        trainer.train_step = watch  # type: ignore[method-assign]
        t0 = time.perf_counter()
        try:
            history = trainer.train()
        finally:
            faulthandler.cancel_dump_traceback_later()
            trainer.close()
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summarise(history, watch, rollouts, wall, args.steps)


def summarise(history: list[dict[str, Any]], watch: StepWatch, rollouts: AdbRollouts, wall: float,
              steps: int) -> dict[str, Any]:
    """Lost episodes, skipped steps, faults, time and RSS growth from step ``WARM_UP_STEPS`` to the end."""
    done = len(history)
    base = min(WARM_UP_STEPS, done)  # a short run measures from its last step
    rss_base, rss_end = watch.rss[base - 1], watch.rss[-1]
    return {
        "steps": done, "steps_asked": steps, "completed": done == steps,
        # over ADB one server, one device, one episode each; in process B x G a step
        "episodes": rollouts.servers_started or done * GROUPS * GROUP_SIZE,
        "lost_episodes": int(sum(row.get("lost_episodes", 0) for row in history)),
        "skipped_steps": int(history[-1].get("skipped_steps", 0)) if history else 0,
        "steps_without_samples": sum(1 for row in history if not row.get("samples")),
        "lost_because": dict(rollouts.lost_because.most_common()),
        "faults_injected": dict(sorted(rollouts.injected.items())), "fault_rates": rollouts.rates,
        "wall_s": round(wall, 1), "step_s_mean": round(sum(watch.seconds) / max(1, done), 3),
        "step_s_max": round(max(watch.seconds, default=0.0), 3),
        "rss_mib": {"after_step": base, "base": round(rss_base / MIB, 1), "end": round(rss_end / MIB, 1),
                    "max": round(max(watch.rss) / MIB, 1),
                    "growth_pct": round((rss_end - rss_base) / rss_base * 100, 2),
                    "every_10_steps": [round(r / MIB, 1) for r in watch.rss[9::10]]},
        "threads": {"after_step": watch.threads[base - 1], "end": watch.threads[-1],
                    "max": max(watch.threads)},
        "open_fds": {"after_step": watch.fds[base - 1], "end": watch.fds[-1], "max": max(watch.fds)},
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"), "over_adb": rollouts.servers_started > 0,
        "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
    }


def report(r: dict[str, Any]) -> str:
    """The figures as text, with each target marked ok or MISSED."""
    rss, faults = r["rss_mib"], ", ".join(f"{k} {v}" for k, v in r["faults_injected"].items()) or "none"
    growth_ok = rss["growth_pct"] <= 5
    return "\n".join([
        f"soak_train: {r['steps']} of {r['steps_asked']} steps in {r['wall_s']} s "
        f"({r['step_s_mean']} s a step, slowest {r['step_s_max']} s), {r['episodes']} episodes "
        f"{'over ADB' if r['over_adb'] else 'on in-process sims (no ADB, no faults)'}",
        f"faults injected: {faults}",
        f"lost episodes: {r['lost_episodes']} of {r['episodes']}; skipped steps: {r['skipped_steps']}; "
        f"steps without samples: {r['steps_without_samples']}",
        *[f"  lost {n}: {why}" for why, n in r["lost_because"].items()],
        f"RSS: after step {rss['after_step']} {rss['base']} MiB, end {rss['end']} MiB, max {rss['max']} MiB, "
        f"growth {rss['growth_pct']:+.2f} %",
        f"threads {r['threads']['after_step']} after step {rss['after_step']}, {r['threads']['end']} at the "
        f"end; open fds {r['open_fds']['after_step']} then {r['open_fds']['end']}",
        f"targets: run completed: {'ok' if r['completed'] else 'MISSED'}; no hang: ok; lost episodes "
        f"counted: {r['lost_episodes']}; RSS growth <= 5 % after step {rss['after_step']}: "
        f"{'ok' if growth_ok else 'MISSED'}",
    ])


def rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is a number from 0 to 1, got {text[:40]!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    p.add_argument("--refuse-rate", type=rate, default=0.05, help="per connection (default 0.05)")
    p.add_argument("--drop-rate", type=rate, default=0.01, help="per WRTE sent (default 0.01)")
    p.add_argument("--delay-rate", type=rate, default=0.02, help="per message sent (default 0.02)")
    p.add_argument("--delay-s", type=float, default=0.05, help="length of a delay (default 0.05 s)")
    p.add_argument("--step-timeout", type=float, default=300.0, help="a step longer than this is a hang")
    p.add_argument("--in-process", action="store_true",
                   help="the control run: the trainer's own in-process sims, no ADB and no faults")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--model", default=None, help="base model dir (default: a fresh tiny qwen2_5_vl)")
    p.add_argument("--out", type=Path, default=None, help="run directory to keep (default: a temporary one)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures here as JSON")
    args = p.parse_args(argv)
    if args.steps < 1 or args.threads < 1 or args.delay_s < 0 or args.step_timeout <= 0:
        p.error("--steps and --threads are >= 1, --delay-s >= 0 and --step-timeout > 0")
    if args.json is not None and not args.json.parent.is_dir():
        p.error(f"--json: directory {args.json.parent} does not exist")
    if args.model is not None and not Path(args.model).is_dir():
        p.error(f"--model: no such directory {args.model} (make one with `gui-grpo init-model`)")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    result = run(args)
    print(report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
