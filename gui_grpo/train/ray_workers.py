"""Rollout workers on Ray: actors that own devices and an inference replica and play whole groups.

``RayRolloutPool`` (in the learner) starts ``rollout.workers`` actors. Each ``RolloutWorker`` loads the
same base checkpoint and adapter settings as the learner (``load_policy``), receives the learner's
trainable weights (the LoRA tensors, or every trainable weight under full fine-tuning) after each update,
owns its share of the device spec (``split_device_spec``) and plays the groups it is sent with
``play_groups``. The learner cuts each batch of groups into blocks in proportion to the workers' device
shares and gathers complete groups back, in group order.

Sampling is seeded per (run seed, step, group, member, turn) and every group's device seed travels with
its ``GroupJob``, so a worker chooses exactly the actions the learner would have chosen in-process.

A worker that dies (or answers nothing within ``rollout.worker_timeout_s``) is replaced by a fresh actor
with the current weights; the episodes of its groups come back lost (``EpisodeResult.lost``), which keeps
them out of the statistics, and the run goes on. Devices lost inside a worker are handled by
``play_groups`` as in-process (the episode is lost; forked sims are made fresh for every group).

Ray is an optional extra (``pip install 'gui-grpo[ray]'``), imported only when a pool is started.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from emulators.specs import parse_device_spec
from gui_grpo.policy.engine import Policy
from gui_grpo.rollout.group import DeviceFactory, GroupJob, lost_results, play_jobs, sim_device
from gui_grpo.rollout.records import EpisodeResult
from gui_grpo.train.distributed import share_blocks, split_device_spec

log = logging.getLogger(__name__)


class RolloutWorkerError(Exception):
    """Rollout workers cannot be started or failed in a way that is not a lost worker (a bug)."""


def trainable_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights a replica needs from the learner: every trainable parameter, on the CPU."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


class RolloutWorker:
    """One inference replica and its devices; Ray runs it as an actor (plain Python, testable without Ray)."""

    def __init__(
        self, cfg_data: dict[str, Any], devices: str, make_device: DeviceFactory | None = None
    ) -> None:
        from gui_grpo.policy.engine import HFEngine
        from gui_grpo.policy.model import load_policy
        from gui_grpo.policy.prompts import PromptBuilder
        from gui_grpo.train.config import config_from_dict

        cfg = config_from_dict(cfg_data)
        self.cfg, self.devices = cfg, devices
        if parse_device_spec(devices).kind != "sim":
            raise RolloutWorkerError(f"rollout workers fork groups from PhoneSims: use sim:N (got {devices})")
        self.make_device = make_device or sim_device
        torch.set_num_threads(cfg.rollout.worker_cpus)
        torch.manual_seed(cfg.seed)
        device = "cuda" if cfg.rollout.worker_gpus > 0 else "cpu"
        model, processor, family = load_policy(
            cfg.model, dtype=cfg.dtype, device=device, lora=cfg.lora, adapter=cfg.adapter
        )
        engine = HFEngine(
            model, processor, max_new_tokens=cfg.rollout.max_new_tokens, temperature=cfg.rollout.temperature
        )
        self.model = model
        self.policy = Policy(PromptBuilder(processor, family, cfg.prompt), engine)
        self.version: int | None = None

    def set_weights(self, state: dict[str, torch.Tensor], version: int) -> int:
        """Copy the learner's trainable tensors into the replica (exactly its trainable ones, by name)."""
        params = dict(self.model.named_parameters())
        trainable = {n for n, p in params.items() if p.requires_grad}
        if set(state) != trainable:
            diff = sorted(set(state) ^ trainable)
            raise RolloutWorkerError(
                f"learner and worker models differ ({len(diff)} tensors, e.g. {diff[:2]}): "
                "give both the same model and lora settings"
            )
        with torch.no_grad():
            for name, tensor in state.items():
                params[name].copy_(tensor)
        self.version = version
        return version

    def play(
        self,
        jobs: list[GroupJob],
        run_seed: int,
        step: int,
        greedy: bool,
        max_steps: int | None,
        version: int,
    ) -> list[EpisodeResult]:
        """Play ``jobs`` with the weights of ``version`` (refused when the replica holds others)."""
        if version != self.version:
            raise RolloutWorkerError(f"worker holds weights {self.version}, asked to play with {version}")
        return play_jobs(
            self.policy,
            jobs,
            self.make_device,
            self.cfg.rollout.sim_resolution,
            run_seed=run_seed,
            step=step,
            greedy=greedy,
            max_steps=max_steps,
        )

    def ping(self) -> str:
        return self.devices


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise RolloutWorkerError(
            "rollout.workers > 0 needs Ray: pip install 'gui-grpo[ray]' (or 'ray[default]'), "
            "or set rollout.workers 0 to play in this process"
        ) from e
    return ray


class RayRolloutPool:
    """The learner's side: ``workers`` Ray actors, weight syncs, and groups played across them."""

    def __init__(self, cfg: Any, make_device: DeviceFactory | None = None) -> None:
        self.ray = _import_ray()
        ro = cfg.rollout
        self.shares = split_device_spec(ro.devices, ro.workers)
        self.weights = [parse_device_spec(s).count for s in self.shares]
        data = cfg.to_dict()
        for key in ("model", "adapter"):  # actors may not share the learner's working directory
            if data[key] is not None:
                data[key] = str(Path(data[key]).resolve())
        self.cfg_data, self.make_device = data, make_device
        self.options = {"num_cpus": ro.worker_cpus, "num_gpus": ro.worker_gpus, "max_restarts": 0}
        self.timeout_s = ro.worker_timeout_s
        self.started_ray = not self.ray.is_initialized()
        if self.started_ray:
            self.ray.init(address=ro.ray_address, include_dashboard=False, log_to_driver=False)
        self.version: int | None = None
        self.state_ref: Any = None
        self.replaced = 0
        self.actors: list[Any] = []
        self.actors = [self._start(i) for i in range(ro.workers)]
        self._wait_ready(list(range(ro.workers)))

    def _start(self, index: int) -> Any:
        remote = self.ray.remote(RolloutWorker).options(**self.options)
        return remote.remote(self.cfg_data, self.shares[index], self.make_device)

    def _wait_ready(self, indices: list[int]) -> None:
        try:
            self.ray.get([self.actors[i].ping.remote() for i in indices], timeout=self.timeout_s)
        except (self.ray.exceptions.RayActorError, self.ray.exceptions.GetTimeoutError) as e:
            self.close()
            raise RolloutWorkerError(f"rollout workers did not start: {type(e).__name__}: {e}") from e

    def _replace(self, index: int, why: str) -> None:
        log.warning("rollout worker %d lost (%s); starting a replacement", index, why)
        self.ray.kill(self.actors[index], no_restart=True)
        self.actors[index] = self._start(index)
        self.replaced += 1
        self._wait_ready([index])
        if self.state_ref is not None:
            self.ray.get(self.actors[index].set_weights.remote(self.state_ref, self.version))

    def sync(self, model: torch.nn.Module, version: int) -> None:
        """Send the learner's trainable weights to every worker, unless they already hold ``version``."""
        if version == self.version:
            return
        self.state_ref = self.ray.put(trainable_tensors(model))
        self.version = version
        refs = [a.set_weights.remote(self.state_ref, version) for a in self.actors]
        for i, ref in enumerate(refs):
            try:
                self.ray.get(ref, timeout=self.timeout_s)
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.GetTimeoutError) as e:
                self._replace(i, f"{type(e).__name__} during a weight sync")
            except self.ray.exceptions.RayTaskError as e:
                raise RolloutWorkerError(f"rollout worker {i} refused the weights: {e}") from e

    def play(
        self, jobs: list[GroupJob], *, run_seed: int, step: int, greedy: bool, max_steps: int | None
    ) -> list[EpisodeResult]:
        """Every job's episodes, group-major in job order; a lost worker's groups come back lost."""
        if self.version is None:
            raise RolloutWorkerError("send the learner's weights (sync) before playing")
        calls = []
        for i, block in enumerate(share_blocks(len(jobs), len(self.actors), self.weights)):
            part = [jobs[k] for k in block]
            if part:
                ref = self.actors[i].play.remote(part, run_seed, step, greedy, max_steps, self.version)
                calls.append((i, part, ref))
        deadline = time.monotonic() + self.timeout_s
        results: list[EpisodeResult] = []
        for i, part, ref in calls:
            results += self._gather(i, part, ref, deadline)
        return results

    def _gather(self, index: int, part: list[GroupJob], ref: Any, deadline: float) -> list[EpisodeResult]:
        errors = self.ray.exceptions
        try:
            return self.ray.get(ref, timeout=max(0.1, deadline - time.monotonic()))
        except errors.RayActorError as e:
            why = f"rollout worker {index} died: {type(e).__name__}"
        except errors.GetTimeoutError:
            why = f"rollout worker {index} gave no answer within {self.timeout_s:g} s"
        except errors.RayTaskError as e:
            raise RolloutWorkerError(f"rollout worker {index} failed: {e}") from e
        self._replace(index, why)
        return [r for job in part for r in lost_results(job, why)]

    def close(self) -> None:
        """Stop the workers (and the local Ray instance, if this pool started it)."""
        for a in self.actors:
            self.ray.kill(a, no_restart=True)
        self.actors = []
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()


def start_rollout_pool(cfg: Any, dp: Any) -> RayRolloutPool:
    """The trainer's pool of ``cfg.rollout.workers`` Ray actors (online runs of one learner process)."""
    if cfg.offline is not None:
        raise RolloutWorkerError("offline runs sample in the learner: set rollout.workers 0 with --offline")
    if dp.active:
        raise RolloutWorkerError(
            "rollout workers serve one learner process: use --rollout-workers or torchrun ranks, not both"
        )
    return RayRolloutPool(cfg)
