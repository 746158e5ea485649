"""Evaluation: play a suite's held-out instances with a fixed policy and measure what happened.

Each instance is played once (greedy by default, so a run is deterministic given its seeds). On ``sim:N``
specs every episode gets its own PhoneSim set up from a seed, and N episodes are played batched; on
``adb:``/``serial:`` specs the episodes take turns on the given devices, each replaying the task's setup,
and the start state is hashed (screenshot + the setup's state) so a start that differs is visible. A device
that fails mid-episode is dropped: its episode counts as lost (not as a failure) and the rest go on on the
devices left.

Measured per template, per app and overall: success with a Wilson 95% interval, mean steps,
invalid-action rate, false-completion rate (the agent claimed success, the checker disagrees),
side-effect rate and lost episodes. Everything is written under ``out``: ``summary.json``,
``episodes.jsonl`` and one trajectory directory per episode (``gui_grpo.rollout.trajectories``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators.device import GuiDevice
from emulators.errors import DeviceError
from emulators.phonesim import SimDevice
from emulators.specs import DeviceSpec, parse_device_spec
from gui_grpo.policy.engine import Policy
from gui_grpo.policy.prompts import PromptConfig
from gui_grpo.policy.usage import code_version
from gui_grpo.rollout.group import GroupSpec, play_groups, start_group, start_group_on
from gui_grpo.rollout.records import EpisodeResult
from gui_grpo.rollout.trajectories import save_episode
from tasks.base import Task, check_device_kind, get_task
from tasks.suites import instances

Z95 = 1.959963984540054
SUMMARY_FILE = "summary.json"
EPISODES_FILE = "episodes.jsonl"


class EvalError(Exception):
    """An evaluation cannot start or go on; the message says why."""


@dataclass
class EvalConfig:
    model: str
    """Checkpoint directory of the policy."""
    out: str
    """Directory for summary.json, episodes.jsonl and episodes/."""
    adapter: str | None = None
    """A LoRA adapter to evaluate on top of ``model``."""
    suite: str = "smoke"
    split: str = "test"
    episodes: int = 8
    """How many task instances to play (one episode each)."""
    devices: str = "sim:1"
    """sim:N (N episodes batched, each on its own PhoneSim) or adb:/serial: devices."""
    seed: int = 0
    """Draws the instances, the PhoneSim seeds and (with ``sample``) the sampling seeds."""
    sample: bool = False
    """Sample at ``temperature`` instead of greedy decoding."""
    temperature: float = 1.0
    max_new_tokens: int = 64
    max_steps: int | None = None
    """Cap on steps per episode; None uses each task's own max_steps."""
    sim_resolution: str = "small"
    prompt: PromptConfig = field(default_factory=PromptConfig)
    dtype: str = "auto"
    device: str = "auto"
    engine: str = "hf"
    """``hf`` (transformers, CPU or GPU) or ``vllm`` (CUDA and the ``vllm`` extra; docs/VLLM.md)."""

    def __post_init__(self) -> None:
        if isinstance(self.prompt, dict):
            self.prompt = PromptConfig(**self.prompt)
        if self.engine not in ENGINES:
            raise ValueError(f"engine {self.engine!r}: use one of {', '.join(ENGINES)}")
        if self.episodes < 1:
            raise ValueError("episodes must be >= 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be >= 1 (or None for each task's own cap)")


ENGINES: tuple[str, ...] = ("hf", "vllm")


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there are no trials."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 or k = n the bound is exactly p; rounding would otherwise leave it a hair inside.
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


def load_eval_policy(cfg: EvalConfig) -> Policy:
    """The policy of ``cfg``: checkpoint, optional adapter, prompt builder and a seeded engine."""
    from gui_grpo.policy.engine import HFEngine
    from gui_grpo.policy.model import load_policy
    from gui_grpo.policy.prompts import PromptBuilder

    if cfg.engine == "vllm":
        return _vllm_policy(cfg)
    model, processor, family = load_policy(cfg.model, dtype=cfg.dtype, device=cfg.device, adapter=cfg.adapter)
    model.requires_grad_(False)
    engine = HFEngine(model, processor, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature)
    return Policy(PromptBuilder(processor, family, cfg.prompt), engine)


def _vllm_policy(cfg: EvalConfig) -> Policy:
    """The policy on vLLM: the checkpoint served by ``vllm.LLM``, the adapter as a LoRA request."""
    from transformers import AutoProcessor

    from gui_grpo.policy.model import detect_family
    from gui_grpo.policy.prompts import PromptBuilder
    from gui_grpo.policy.vllm_engine import VLLMEngine

    engine = VLLMEngine(cfg.model, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                        enable_lora=cfg.adapter is not None, dtype=cfg.dtype)
    if cfg.adapter is not None:
        engine.load_adapter(cfg.adapter)
    builder = PromptBuilder(AutoProcessor.from_pretrained(cfg.model), detect_family(cfg.model), cfg.prompt)
    return Policy(builder, engine)


# -- metrics ---------------------------------------------------------------------------------------------


def episode_verdict(result: EpisodeResult) -> dict[str, Any]:
    """What the checker and the agent's claims say about one episode."""
    lost = result.lost is not None
    success = not lost and result.score >= 1.0
    return {
        "success": success,
        "false_completion": not lost and result.claims_success and not success,
        "side_effect": not lost and bool(result.side_effects),
        "is_lost": lost,
    }


def rates(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate episode records (``episode_verdict`` fields + ``num_steps``/``invalid_actions``)."""
    scored = [r for r in records if not r["is_lost"]]
    n = len(scored)
    k = sum(r["success"] for r in scored)
    steps = sum(r["num_steps"] for r in scored)
    lo, hi = wilson_interval(k, n)
    return {
        "episodes": len(records),
        "scored": n,
        "successes": k,
        "success_rate": k / n if n else None,
        "success_ci95": [lo, hi],
        "mean_steps": steps / n if n else None,
        "mean_score": sum(r["score"] for r in scored) / n if n else None,
        "invalid_action_rate": sum(r["invalid_actions"] for r in scored) / steps if steps else None,
        "false_completion_rate": sum(r["false_completion"] for r in scored) / n if n else None,
        "side_effect_rate": sum(r["side_effect"] for r in scored) / n if n else None,
        "lost": len(records) - n,
    }


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Overall, per-template and per-app rates of a list of episode records."""

    def by(key: str) -> dict[str, Any]:
        names = sorted({r[key] for r in records})
        return {name: rates([r for r in records if r[key] == name]) for name in names}

    return {"overall": rates(records), "by_template": by("task"), "by_app": by("app")}


# -- playing ---------------------------------------------------------------------------------------------


def _device_seed(seed: int, index: int) -> int:
    return random.Random(f"eval-device:{seed}:{index}").randrange(2**31)


@dataclass
class _Played:
    result: EpisodeResult
    device: str | None = None


class _Evaluation:
    """Plays the instances of one evaluation on its devices, chunk by chunk."""

    def __init__(self, policy: Policy, cfg: EvalConfig, spec: DeviceSpec,
                 progress: Callable[[int, int, int], None] | None = None, total: int = 0) -> None:
        self.policy = policy
        self.cfg = cfg
        self.spec = spec
        self.lost_devices: list[str] = []
        self.progress = progress
        self.total = total
        self.done = self.successes = 0

    def _tell(self, played: list[_Played]) -> None:
        """Report progress after a chunk: episodes played, of all, and how many the checkers passed."""
        self.done += len(played)
        self.successes += sum(1 for p in played if episode_verdict(p.result)["success"])
        if self.progress is not None:
            self.progress(self.done, self.total, self.successes)

    def _play(self, groups: list[GroupSpec], threads: int = 0) -> list[EpisodeResult]:
        return play_groups(
            self.policy,
            groups,
            run_seed=self.cfg.seed,
            step=0,
            greedy=not self.cfg.sample,
            max_steps=self.cfg.max_steps,
            threads=threads,
        )

    def on_sims(self, tasks: list[Task]) -> list[_Played]:
        out: list[_Played] = []
        chunk = self.spec.count
        for first in range(0, len(tasks), chunk):
            groups = []
            for i in range(first, min(len(tasks), first + chunk)):
                dev_seed = _device_seed(self.cfg.seed, i)
                res = self.cfg.sim_resolution

                def make(s: int = dev_seed, r: str = res) -> GuiDevice:
                    return SimDevice(seed=s, resolution=r)

                groups.append(start_group(tasks[i], dev_seed, i, 1, make))
            chunk_played = []
            for g, result in zip(groups, self._play(groups), strict=True):
                chunk_played.append(_Played(result, f"sim:{g.seed}"))  # the PhoneSim seed names it
                g.devices[0].close()
            out += chunk_played
            self._tell(chunk_played)
        return out

    def on_devices(self, tasks: list[Task], devices: list[GuiDevice]) -> list[_Played]:
        """Episodes take turns on the devices; each replays the setup; failed devices are dropped."""
        out: list[_Played] = []
        pending = list(enumerate(tasks))
        while pending:
            if not devices:
                for i, task in pending:
                    res = EpisodeResult(task.name, dict(task.params), task.instruction, task.seed or 0, i, 0)
                    res.lost = "DeviceError: no devices left: every device of the spec failed"
                    out.append(_Played(res))
                break
            batch, pending = pending[: len(devices)], pending[len(devices) :]
            groups = [
                start_group_on(task, task.seed or 0, i, [device])
                for (i, task), device in zip(batch, list(devices), strict=False)
            ]
            batch_played = []
            for g, result in zip(groups, self._play(groups, threads=len(groups)), strict=True):
                batch_played.append(_Played(result, g.devices[0].name))
                if result.lost is not None and not g.devices[0].restarts_itself:
                    self._drop(g.devices[0], devices)
            out += batch_played
            self._tell(batch_played)
        return out

    def _drop(self, device: GuiDevice, devices: list[GuiDevice]) -> None:
        if device in devices:
            devices.remove(device)
            self.lost_devices.append(device.name)
            try:
                device.close()
            except DeviceError:
                pass


def _connect(spec: DeviceSpec) -> list[GuiDevice]:
    from gui_grpo.rollout.devices import open_devices

    return open_devices(spec)


def _record(played: _Played, index: int, out: Path) -> dict[str, Any]:
    r = played.result
    template = get_task(r.task)
    verdict = {
        **episode_verdict(r),
        "index": index,
        "app": template.app,
        "device": played.device,
    }
    return save_episode(r, out / "episodes" / f"{index:04d}", verdict)


def run_evaluation(
    cfg: EvalConfig,
    policy: Policy | None = None,
    connect: Callable[[DeviceSpec], list[GuiDevice]] = _connect,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[str, Any]:
    """Play the evaluation, write summary.json, episodes.jsonl and trajectories; return the summary.
    ``progress(done, total, successes)`` is called after each batch of episodes."""
    spec = parse_device_spec(cfg.devices)
    if spec.kind == "avd":
        raise EvalError("avd: specs are started by the emulator pool; give their adb: or serial: addresses")
    tasks = instances(cfg.suite, cfg.split, cfg.episodes, seed=cfg.seed)
    check_device_kind([type(t) for t in tasks], spec.kind, cfg.devices)
    devices = connect(spec) if spec.kind != "sim" else []  # before the model loads: fail fast
    try:
        policy = policy or load_eval_policy(cfg)
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        evaluation = _Evaluation(policy, cfg, spec, progress, len(tasks))
        if spec.kind == "sim":
            played = evaluation.on_sims(tasks)
        else:
            played = evaluation.on_devices(tasks, list(devices))
    finally:
        for d in devices:
            d.close()
    records = [_record(p, i, out) for i, p in enumerate(played)]
    with open(out / EPISODES_FILE, "w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    summary = {
        **_run_info(cfg, policy, tasks),
        "lost_devices": evaluation.lost_devices,
        "wall_s": round(time.perf_counter() - t0, 3),
        **summarize(records),
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


def _run_info(cfg: EvalConfig, policy: Policy, tasks: list[Task]) -> dict[str, Any]:
    return {
        "kind": "evaluation",
        "model": cfg.model,
        "adapter": cfg.adapter,
        "suite": cfg.suite,
        "split": cfg.split,
        "devices": cfg.devices,
        "seed": cfg.seed,
        "instance_seeds": [t.seed for t in tasks],
        "device_seeds": [_device_seed(cfg.seed, i) for i in range(len(tasks))],
        "decoding": "sample" if cfg.sample else "greedy",
        "temperature": cfg.temperature,
        "max_new_tokens": cfg.max_new_tokens,
        "max_steps": cfg.max_steps,
        "family": policy.family,
        "action_format": policy.builder.action_format,
        "observation": policy.builder.cfg.observation,
        "prompt": dataclasses.asdict(policy.builder.cfg),
        "code_version": code_version(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """The episode records (episodes.jsonl) of an evaluation directory."""
    file = Path(path) / EPISODES_FILE
    if not file.is_file():
        return []
    with open(file, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
