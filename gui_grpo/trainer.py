"""GRPO on phone tasks: roll out groups, score them, turn advantages into a policy update.

One online step: sample B task instances → set up and fork G devices each → play all B×G episodes batched →
rewards (checker score and penalties) → group advantages → every step of an episode carries its
episode's advantage, weighted 1/T → clipped policy loss over micro-batches → optimizer step. Offline
step-level GRPO (``gui_grpo.offline``) replaces the rollouts with G sampled answers per dataset record;
the update is the same.

A non-finite loss or gradient norm skips the optimizer step (counted in ``skipped_steps``). Checkpoints are
atomic (``gui_grpo.checkpoint``); ``Trainer.resume`` continues a run exactly where its last checkpoint
left it.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emulators.phonesim import SimDevice
from emulators.specs import parse_device_spec
from gui_grpo import checkpoint
from gui_grpo.config import TrainConfig, config_from_dict
from gui_grpo.engine import HFEngine
from gui_grpo.grpo.advantages import group_advantages, zero_std_groups
from gui_grpo.grpo.config import LossConfig, RewardConfig
from gui_grpo.grpo.loss import loss_normalizer, policy_loss
from gui_grpo.grpo.rewards import episode_reward
from gui_grpo.logprobs import completion_stats, encode_shared, right_aligned
from gui_grpo.metrics import MetricsLog, episode_metrics
from gui_grpo.model import LoraSettings, load_policy
from gui_grpo.prompts import Prompt, PromptBuilder
from gui_grpo.rollout import EpisodeResult, Policy, Step, play_groups, start_group
from tasks.suites import instances


class TrainError(Exception):
    """A training run cannot start or go on; the message says why."""


@dataclass
class Sample:
    """One policy decision to learn from."""

    step: Step
    advantage: float
    weight: float


def rebuild_prompt(step: Step) -> Prompt:
    """The prompt a step was sampled from, with its images decoded from the stored PNGs."""
    from io import BytesIO

    from PIL import Image

    images = [Image.open(BytesIO(b)).convert("RGB") for b in step.images_png]
    return Prompt(step.prompt_text, images, step.screen_size)


def score_episodes(results: list[EpisodeResult], reward_cfg: RewardConfig) -> list[float]:
    rewards = []
    for r in results:
        value, _ = episode_reward(
            r.score,
            claimed_status=r.claimed_status,
            invalid_actions=r.invalid_actions,
            steps=max(1, len(r.steps)),
            progress_start=r.progress_start,
            progress_end=r.progress_end,
            side_effects=len(r.side_effects),
            cfg=reward_cfg,
        )
        rewards.append(value)
    return rewards


def make_samples(
    results: list[EpisodeResult], rewards: list[float], loss_cfg: LossConfig, reward_cfg: RewardConfig
) -> tuple[list[Sample], dict[str, float]]:
    """Group advantages per episode, spread over its steps (weight 1/T_i when configured)."""
    group_ids = torch.tensor([r.group for r in results])  # (N,)
    rew = torch.tensor(rewards, dtype=torch.float32)  # (N,)
    adv = group_advantages(rew, group_ids, scale=loss_cfg.scale_std)  # (N,)
    zero = zero_std_groups(rew, group_ids)  # (N,) bool
    samples = []
    for r, a, z in zip(results, adv.tolist(), zero.tolist(), strict=True):
        if r.lost is not None or (loss_cfg.drop_zero_std_groups and z):
            continue
        weight = 1.0 / len(r.steps) if reward_cfg.inverse_length_weighting and r.steps else 1.0
        samples += [Sample(s, a, weight) for s in r.steps]
    zero_groups = {g for g, z in zip(group_ids.tolist(), zero.tolist(), strict=True) if z}
    stats = {"frac_reward_zero_std": len(zero_groups) / max(1, len(set(group_ids.tolist())))}
    return samples, stats


class LrSchedule:
    """LR factor per scheduler step: linear warm-up, then constant or cosine to 0 at ``total``."""

    def __init__(self, warmup: int, total: int, kind: str) -> None:
        self.warmup, self.total, self.kind = warmup, total, kind

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        if self.kind == "cosine":
            t = (step - self.warmup) / max(1, self.total - self.warmup)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        return 1.0


class Trainer:
    """Owns the model, optimizer and devices (or dataset) of one run."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        if cfg.offline is None and parse_device_spec(cfg.rollout.devices).kind != "sim":
            raise TrainError(
                f"online training forks each group from one device, which only PhoneSim can do: use "
                f"--devices sim:N (got {cfg.rollout.devices}); evaluate on other devices with `gui-grpo eval`"
            )
        self.loss_cfg = cfg.loss_config()
        if self.loss_cfg.beta > 0 and cfg.lora.full_finetune:
            raise TrainError(
                "loss beta > 0 needs a LoRA (the reference is the adapter-disabled model): "
                "set beta 0 or drop full_finetune"
            )
        torch.manual_seed(cfg.seed)
        lora = None if cfg.lora.full_finetune else LoraSettings(cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout)
        loaded = load_policy(cfg.model, dtype=cfg.dtype, device=cfg.device, lora=lora, adapter=cfg.adapter)
        self.model, self.processor, self.family = loaded
        builder = PromptBuilder(self.processor, self.family, cfg.prompt)
        engine = HFEngine(
            self.model,
            self.processor,
            max_new_tokens=cfg.rollout.max_new_tokens,
            temperature=cfg.rollout.temperature,
        )
        self.policy = Policy(builder, engine)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise TrainError("the model has no trainable parameters")
        opt = cfg.optim
        self.optimizer = torch.optim.AdamW(self.params, lr=opt.lr, weight_decay=opt.weight_decay)
        schedule = LrSchedule(opt.warmup_steps, cfg.steps, opt.lr_schedule)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.out = Path(cfg.out)
        self.step = 0
        self.skipped_steps = 0
        self.offline = None
        if cfg.offline is not None:
            from gui_grpo.offline import OfflineSource

            self.offline = OfflineSource(cfg.offline, self.policy, cfg)

    # -- resume -------------------------------------------------------------------------------------------

    @classmethod
    def resume(cls, run_dir: str | Path, overrides: Callable[[dict], dict] | None = None) -> Trainer:
        """A trainer in exactly the state of ``run_dir``'s latest checkpoint (weights, optimizer, scheduler,
        RNG, step). ``overrides`` may change the saved config's plain data (e.g. raise ``steps``)."""
        ckpt = checkpoint.latest_checkpoint(run_dir)
        if ckpt is None:
            raise TrainError(f"{run_dir} has no complete checkpoint to resume from (checkpoints/step-*)")
        import json

        data = json.loads((ckpt / "train_config.json").read_text())
        data["out"] = str(run_dir)
        cfg = config_from_dict(overrides(data) if overrides else data)
        trainer = cls(cfg)
        trainer.load_checkpoint(ckpt)
        return trainer

    def load_checkpoint(self, path: Path) -> None:
        state = checkpoint.load_state(path)
        checkpoint.load_trainable(self.model, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.restore_rng(state["rng"])
        self.step = int(state["step"])
        self.skipped_steps = int(state["extra"].get("skipped_steps", 0))

    # -- rollouts -----------------------------------------------------------------------------------------

    def _device(self, seed: int) -> SimDevice:
        return SimDevice(seed=seed, resolution=self.cfg.rollout.sim_resolution)

    def collect(
        self,
        step: int,
        split: str = "train",
        greedy: bool = False,
        n: int | None = None,
        group_size: int | None = None,
    ) -> list[EpisodeResult]:
        """Play one batch of groups."""
        n = n or self.cfg.rollout.groups_per_step
        size = group_size or self.cfg.rollout.group_size
        tasks = instances(self.cfg.suite, split, n, seed=self.cfg.seed * 1_000_003 + step)
        groups = []
        for g, task in enumerate(tasks):
            dev_seed = random.Random(f"{self.cfg.seed}:{step}:{g}").randrange(2**31)
            groups.append(start_group(task, dev_seed, g, size, lambda s=dev_seed: self._device(s)))
        try:
            return play_groups(
                self.policy,
                groups,
                run_seed=self.cfg.seed,
                step=step,
                greedy=greedy,
                max_steps=self.cfg.rollout.max_steps_per_episode,
            )
        finally:
            for g in groups:
                for d in g.devices:
                    d.close()

    def _online_batch(self, step: int) -> tuple[list[Sample], dict[str, float]]:
        results = self.collect(step)
        rewards = score_episodes(results, self.cfg.reward)
        samples, stats = make_samples(results, rewards, self.loss_cfg, self.cfg.reward)
        return samples, {**episode_metrics(results, rewards), **stats}

    # -- the update ---------------------------------------------------------------------------------------

    def update(self, samples: list[Sample]) -> dict[str, float]:
        """Passes × micro-batches of the clipped policy loss, one optimizer step per pass.

        A pass whose loss or gradient norm is not finite is not applied; it counts in ``skipped_steps``.
        """
        self.model.train()
        metrics: dict[str, float] = {}
        chunks = self._micro_batches(samples)
        norms = [float(loss_normalizer(*self._mask_and_weights(c), self.loss_cfg)) for c in chunks]
        for _ in range(self.cfg.optim.passes):
            self.optimizer.zero_grad(set_to_none=True)
            sums: dict[str, float] = {}
            for chunk, norm in zip(chunks, norms, strict=True):
                # policy_loss normalises within the micro-batch; rescale to the whole batch's normaliser.
                scale = 1.0 if self.loss_cfg.aggregation == "constant" else norm / sum(norms)
                loss, m = self._micro_loss(chunk)
                (loss * scale).backward()
                for k, v in m.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(chunk) / len(samples)
            grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.optim.max_grad_norm)
            sums["grad_norm"] = float(grad_norm)
            if math.isfinite(sums["loss"]) and math.isfinite(sums["grad_norm"]):
                self.optimizer.step()
            else:
                self.skipped_steps += 1
                self.optimizer.zero_grad(set_to_none=True)
            metrics = sums
        self.scheduler.step()
        self.model.eval()
        return metrics

    def _micro_batches(self, samples: list[Sample]) -> list[list[Sample]]:
        batches: list[list[Sample]] = [[]]
        used = 0
        for s in samples:
            cost = len(s.step.completion_ids) + len(s.step.prompt_text) // 3
            if batches[-1] and used + cost > self.cfg.optim.micro_batch_tokens:
                batches.append([])
                used = 0
            batches[-1].append(s)
            used += cost
        return [b for b in batches if b]

    @staticmethod
    def _mask_and_weights(chunk: list[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
        lens = [len(s.step.completion_ids) for s in chunk]
        mask = right_aligned([[1.0] * n for n in lens], max(lens))  # (b, C)
        return mask, torch.tensor([s.weight for s in chunk])

    def _encode_chunk(self, chunk: list[Sample]) -> dict[str, Any]:
        # The G samples of a group step share their prompt: decode, tokenise and embed its images once.
        keys = [(s.step.prompt_text, tuple(s.step.images_png)) for s in chunk]
        decoded: dict[Any, Prompt] = {}
        for k, s in zip(keys, chunk, strict=True):
            if k not in decoded:
                decoded[k] = rebuild_prompt(s.step)
        prompts = [decoded[k] for k in keys]
        comps = [s.step.completion_ids for s in chunk]
        return encode_shared(self.policy.builder, self.model, prompts, keys, comps)

    def _micro_loss(self, chunk: list[Sample]) -> tuple[torch.Tensor, dict]:
        batch = self._encode_chunk(chunk)
        lens = [len(s.step.completion_ids) for s in chunk]
        temperature, banned = self.cfg.rollout.temperature, self.policy.engine.banned_ids
        logp, mask, entropy = completion_stats(self.model, batch, lens, temperature, banned)  # (b, C) each
        old = right_aligned([s.step.logprobs for s in chunk], logp.shape[1]).to(logp.device)  # (b, C)
        adv = torch.tensor([s.advantage for s in chunk], device=logp.device)  # (b,)
        weights = torch.tensor([s.weight for s in chunk], device=logp.device)  # (b,)
        ref = None
        if self.loss_cfg.beta > 0:
            with torch.no_grad(), self.model.disable_adapter():
                ref = completion_stats(self.model, batch, lens, temperature, banned).logp
        loss, m = policy_loss(logp, old, adv, mask, self.loss_cfg, ref_logp=ref, step_weights=weights)
        ent = float((entropy * mask).sum() / mask.sum().clamp(min=1.0))
        return loss, {"loss": float(loss.detach()), "entropy": ent, **m}

    # -- the loop -----------------------------------------------------------------------------------------

    def train(self, until: int | None = None) -> list[dict[str, Any]]:
        """Run the remaining steps (or stop after step ``until``, checkpointed, as a kill would); write
        config, metrics, checkpoints and, at the end of the run, ``final/`` under ``cfg.out``."""
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(self.cfg.to_json())
        history = []
        saved_at = None
        stop = self.cfg.steps if until is None else min(until, self.cfg.steps)
        with MetricsLog(self.out, self.cfg.steps, self.step, self.cfg.progress_bar) as log:
            while self.step < stop:
                row = self.train_step(self.step)
                self.step += 1
                if self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
                    row.update(self.evaluate(self.step))
                history.append(row)
                log.write(row)
                if self.cfg.save_every and self.step % self.cfg.save_every == 0:
                    self.save_checkpoint()
                    saved_at = self.step
        if saved_at != self.step:
            self.save_checkpoint()
        if self.step >= self.cfg.steps:
            self.export(self.out / "final")
        return history

    def train_step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        if self.offline is not None:
            samples, stats = self.offline.batch(step)
        else:
            samples, stats = self._online_batch(step)
        t1 = time.perf_counter()
        metrics = self.update(samples) if samples else {}
        t2 = time.perf_counter()
        return {
            "step": step + 1,
            **stats,
            **metrics,
            "samples": len(samples),
            "skipped_steps": self.skipped_steps,
            "lr": self.scheduler.get_last_lr()[0],
            "rollout_s": round(t1 - t0, 3),
            "learn_s": round(t2 - t1, 3),
            "samples_per_s": round(len(samples) / max(t2 - t0, 1e-9), 3),
        }

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, float]:
        """Greedy success on held-out (test split) instances, one episode per instance."""
        if self.offline is not None:
            return self.offline.evaluate()
        results = self.collect(
            10_000 + step, split="test", greedy=True, n=self.cfg.eval_instances, group_size=2
        )
        results = [r for r in results if r.member == 0]
        return {"eval_success_rate": sum(r.score >= 1.0 for r in results) / max(1, len(results))}

    # -- saving -------------------------------------------------------------------------------------------

    def _export_files(self, path: Path) -> None:
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)

    def save_checkpoint(self) -> Path:
        """An atomic checkpoint of the current step under ``out/checkpoints``."""
        return checkpoint.save_checkpoint(
            self.out,
            self.step,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            config_json=self.cfg.to_json(),
            export=self._export_files,
            extra={"skipped_steps": self.skipped_steps},
            keep=self.cfg.keep_checkpoints,
        )

    def export(self, path: Path) -> None:
        """The adapter (or full weights) and processor, for eval or a later run, written atomically."""
        tmp = path.with_name(f".{path.name}.tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self._export_files(tmp)
        (tmp / "train_config.json").write_text(self.cfg.to_json())
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        if old.exists():
            shutil.rmtree(old)
