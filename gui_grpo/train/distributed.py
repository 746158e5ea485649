"""Data-parallel learner over groups with torch.distributed, and device specs split into shares.

``torchrun --nproc_per_node K -m gui_grpo train …`` starts K ranks; ``DataParallel.from_env`` reads
torchrun's variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins
the process group: gloo on CPU, NCCL on GPU (one GPU per rank, ``LOCAL_RANK``). Without them the run is one
process and every method here is the identity.

How K ranks give the same update as one process with the same global batch:

- Each rank plays a contiguous block of the B groups (``share``); groups keep their global index, so the
  per-episode sampling seeds, and with them every action, are those of the one-process run. Group
  advantages need only the rank's own groups.
- The loss is a sum of per-sample terms divided by a normaliser that is additive over samples
  (``grpo.loss.loss_normalizer``). Each rank divides its terms by the *global* normaliser
  (``all_sum`` of the ranks' sums) and the gradients are summed over ranks (``reduce_gradients``), which is
  exactly the one-process gradient. The clip norm, the finiteness check and the optimizer step then see the
  same numbers on every rank, so the replicas never drift.
- Only rank 0 writes metrics and checkpoints (``is_main``); logged metrics are the sample-weighted means
  over ranks (``mean_metrics``).

This is plain DDP arithmetic done by hand over the trainable parameters (a LoRA is a few MB, so one flat
all-reduce per pass is cheap); models that do not fit one GPU need FSDP, see docs/SCALING.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from emulators.specs import DeviceSpec, parse_device_spec


class DistributedError(Exception):
    """The process group cannot be set up or the ranks disagree; the message says how to fix it."""


def split_device_spec(spec: str | DeviceSpec, parts: int) -> list[str]:
    """``spec`` cut into ``parts`` specs of the same grammar with (nearly) equal shares, in order.

    ``sim:5`` in 2 → ``sim:3``, ``sim:2``; ``adb:a,b,c`` in 2 → ``adb:a,b``, ``adb:c``; ``avd:NAME:4`` in 2 →
    ``avd:NAME:2`` twice. Every part needs at least one device.
    """
    parsed = parse_device_spec(spec) if isinstance(spec, str) else spec
    if parts < 1:
        raise DistributedError(f"cannot split devices into {parts} parts")
    if parsed.count < parts:
        fix = f"e.g. --devices sim:{parts}" if parsed.kind == "sim" else "list more devices"
        raise DistributedError(
            f"{parsed} has {parsed.count} device(s) for {parts} parts (workers or ranks): give each at least "
            f"one, {fix}"
        )
    blocks = share_blocks(parsed.count, parts)
    if parsed.kind == "sim":
        return [f"sim:{len(b)}" for b in blocks]
    if parsed.kind == "avd":
        return [f"avd:{parsed.targets[0]}:{len(b)}" for b in blocks]
    return [f"{parsed.kind}:{','.join(parsed.targets[i] for i in b)}" for b in blocks]


def share_blocks(n: int, parts: int, weights: Sequence[int] | None = None) -> list[range]:
    """``range(n)`` cut into ``parts`` contiguous blocks, sized in proportion to ``weights`` (default equal);
    the remainder goes to the first blocks."""
    weights = list(weights) if weights is not None else [1] * parts
    if len(weights) != parts or any(w < 0 for w in weights) or sum(weights) == 0:
        raise DistributedError(f"bad share weights {weights} for {parts} parts")
    total = sum(weights)
    sizes = [n * w // total for w in weights]
    for i in range(n - sum(sizes)):
        sizes[i % parts] += 1
    out, start = [], 0
    for size in sizes:
        out.append(range(start, start + size))
        start += size
    return out


@dataclass
class DataParallel:
    """This process's place among the learner ranks, and the collectives the trainer needs."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Whether this rank writes metrics, checkpoints and the final export."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "auto") -> DataParallel:
        """Join torchrun's process group when ``WORLD_SIZE`` > 1, else a one-process stand-in."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise DistributedError(
                f"WORLD_SIZE={world} but {', '.join(missing)} not set: start ranks with "
                "`torchrun --nproc_per_node K -m gui_grpo train …`"
            )
        rank = int(os.environ["RANK"])
        use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        if use_cuda:
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            torch_device = torch.device("cuda", local)
        else:
            torch_device = torch.device("cpu")
        if not dist.is_initialized():
            dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://")
        if dist.get_world_size() != world or dist.get_rank() != rank:
            raise DistributedError(
                f"process group is rank {dist.get_rank()} of {dist.get_world_size()}, "
                f"env says {rank} of {world}"
            )
        return cls(rank, world, torch_device)

    def share(self, n: int) -> range:
        """This rank's contiguous block of ``n`` items (groups, records)."""
        return share_blocks(n, self.world)[self.rank]

    def device_share(self, spec: str) -> str:
        """This rank's part of the device spec."""
        return split_device_spec(spec, self.world)[self.rank] if self.active else spec

    def all_sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over ranks (float64)."""
        if not self.active:
            return [float(v) for v in values]
        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)  # (V,)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def mean_metrics(
        self, metrics: dict[str, Any], weight: float, summed: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Per key, the mean over ranks weighted by ``weight`` (e.g. samples), or the sum for ``summed``
        keys (counts); keys a rank lacks are left out of its mean. Non-numbers are rank 0's."""
        if not self.active:
            return dict(metrics)
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, (metrics, float(weight)))
        out: dict[str, Any] = {}
        for key in dict.fromkeys(k for m, _ in gathered for k in m):
            pairs = [(m[key], w) for m, w in gathered if key in m]
            if not all(isinstance(v, int | float) for v, _ in pairs):
                out[key] = pairs[0][0]
            elif key in summed:
                out[key] = sum(v for v, _ in pairs)
            else:
                total = sum(w for _, w in pairs)
                out[key] = sum(v * (w / total if total > 0 else 1 / len(pairs)) for v, w in pairs)
        return out

    def reduce_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Sum every parameter's gradient over ranks, in one flat buffer (a missing grad counts as 0)."""
        if not self.active:
            return
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])  # (sum of numels,)
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n

    def broadcast_parameters(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Rank 0's values in every rank's parameters, so the replicas start identical."""
        if not self.active:
            return
        with torch.no_grad():
            for p in params:
                dist.broadcast(p.data, src=0)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group (once the run is over)."""
        if self.active and dist.is_initialized():
            dist.destroy_process_group()


class SilentLog:
    """What ranks other than 0 log to: nothing (same interface as ``gui_grpo.train.metrics.MetricsLog``)."""

    def __init__(
        self, run_dir: Path, total_steps: int, start_step: int = 0, progress_bar: bool = True
    ) -> None:
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self.rows += 1

    def close(self) -> None:
        pass

    def __enter__(self) -> SilentLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
