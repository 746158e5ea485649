"""Online GRPO on phone tasks: roll out groups, score them, turn advantages into a policy update.

One step: sample B task instances → set up and fork G devices each → play all B×G episodes batched →
rewards (checker score and penalties) → group advantages → every step of an episode carries its
episode's advantage, weighted 1/T → clipped policy loss over micro-batches → optimizer step.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emulators.phonesim import SimDevice
from emulators.specs import parse_device_spec
from gui_grpo.config import TrainConfig
from gui_grpo.engine import HFEngine
from gui_grpo.grpo.advantages import group_advantages, zero_std_groups
from gui_grpo.grpo.config import LossConfig, RewardConfig, preset
from gui_grpo.grpo.loss import loss_normalizer, policy_loss
from gui_grpo.grpo.rewards import episode_reward
from gui_grpo.logprobs import completion_logprobs, right_aligned
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
            steps=len(r.steps),
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


class Trainer:
    """Owns the model, optimizer and devices of one run."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        spec = parse_device_spec(cfg.devices)
        if spec.kind != "sim":
            raise TrainError("online training forks groups from one device: use a sim:N device spec")
        torch.manual_seed(cfg.seed)
        lora = None if cfg.full_finetune else LoraSettings(r=cfg.lora_r, alpha=cfg.lora_alpha)
        loaded = load_policy(cfg.model, dtype=cfg.dtype, device=cfg.device, lora=lora, adapter=cfg.adapter)
        self.model, self.processor, self.family = loaded
        overrides = dict(cfg.loss_overrides)
        if cfg.loss == "dr_grpo":
            overrides.setdefault("constant_normalizer", cfg.group_size * cfg.max_new_tokens)
        self.loss_cfg = preset(cfg.loss, **overrides)
        self.reward_cfg = RewardConfig(**cfg.reward_overrides)
        builder = PromptBuilder(self.processor, self.family, cfg.prompt)
        engine = HFEngine(
            self.model, self.processor, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature
        )
        self.policy = Policy(builder, engine)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise TrainError("the model has no trainable parameters")
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.out = Path(cfg.out)
        self.step = 0

    def _lr_factor(self, step: int) -> float:
        if step < self.cfg.warmup_steps:
            return (step + 1) / self.cfg.warmup_steps
        if self.cfg.lr_schedule == "cosine":
            t = (step - self.cfg.warmup_steps) / max(1, self.cfg.steps - self.cfg.warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        return 1.0

    def _device(self, seed: int) -> SimDevice:
        return SimDevice(seed=seed, resolution=self.cfg.sim_resolution)

    def collect(
        self,
        step: int,
        split: str = "train",
        greedy: bool = False,
        n: int | None = None,
        group_size: int | None = None,
    ) -> list[EpisodeResult]:
        """Play one batch of groups."""
        n = n or self.cfg.groups_per_step
        size = group_size or self.cfg.group_size
        tasks = instances(self.cfg.suite, split, n, seed=self.cfg.seed * 1_000_003 + step)
        groups = []
        for g, task in enumerate(tasks):
            dev_seed = random.Random(f"{self.cfg.seed}:{step}:{g}").randrange(2**31)
            groups.append(start_group(task, dev_seed, g, size, lambda s=dev_seed: self._device(s)))
        results = play_groups(
            self.policy,
            groups,
            run_seed=self.cfg.seed,
            step=step,
            greedy=greedy,
            max_steps=self.cfg.max_steps_per_episode,
        )
        for g in groups:
            for d in g.devices:
                d.close()
        return results

    def update(self, samples: list[Sample]) -> dict[str, float]:
        """Passes × micro-batches of the clipped policy loss, one optimizer step per pass."""
        self.model.train()
        metrics: dict[str, float] = {}
        chunks = self._micro_batches(samples)
        norms = [float(loss_normalizer(*self._mask_and_weights(c), self.loss_cfg)) for c in chunks]
        for _ in range(self.cfg.passes):
            self.optimizer.zero_grad(set_to_none=True)
            sums: dict[str, float] = {}
            for chunk, norm in zip(chunks, norms, strict=True):
                # policy_loss normalises within the micro-batch; rescale to the whole batch's normaliser.
                scale = 1.0 if self.loss_cfg.aggregation == "constant" else norm / sum(norms)
                loss, m = self._micro_loss(chunk)
                (loss * scale).backward()
                for k, v in m.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * len(chunk) / len(samples)
            params = [p for p in self.model.parameters() if p.requires_grad]
            sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm))
            self.optimizer.step()
            metrics = sums
        self.scheduler.step()
        return metrics

    def _micro_batches(self, samples: list[Sample]) -> list[list[Sample]]:
        batches: list[list[Sample]] = [[]]
        used = 0
        for s in samples:
            cost = len(s.step.completion_ids) + len(s.step.prompt_text) // 3
            if batches[-1] and used + cost > self.cfg.micro_batch_tokens:
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

    def _micro_loss(self, chunk: list[Sample]) -> tuple[torch.Tensor, dict]:
        prompts = [rebuild_prompt(s.step) for s in chunk]
        comps = [s.step.completion_ids for s in chunk]
        batch = self.policy.builder.encode(prompts, completions=comps)
        lens = [len(c) for c in comps]
        logp, mask = completion_logprobs(
            self.model, batch, lens, self.cfg.temperature, self.policy.engine.banned_ids
        )  # (b, C)
        old = right_aligned([s.step.logprobs for s in chunk], logp.shape[1]).to(logp.device)  # (b, C)
        adv = torch.tensor([s.advantage for s in chunk], device=logp.device)  # (b,)
        weights = torch.tensor([s.weight for s in chunk], device=logp.device)  # (b,)
        ref = None
        if self.loss_cfg.beta > 0:
            with torch.no_grad(), self.model.disable_adapter():
                ref, _ = completion_logprobs(
                    self.model, batch, lens, self.cfg.temperature, self.policy.engine.banned_ids
                )
        loss, m = policy_loss(logp, old, adv, mask, self.loss_cfg, ref_logp=ref, step_weights=weights)
        return loss, {"loss": float(loss.detach()), **m}

    def train(self) -> list[dict[str, Any]]:
        """Run all steps; write config, metrics and checkpoints under ``cfg.out``."""
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(self.cfg.to_json())
        history = []
        with open(self.out / "metrics.jsonl", "a") as log:
            for step in range(self.cfg.steps):
                self.step = step
                row = self.train_step(step)
                if self.cfg.eval_every and (step + 1) % self.cfg.eval_every == 0:
                    row.update(self.evaluate(step))
                history.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(format_row(row), flush=True)
                if self.cfg.save_every and (step + 1) % self.cfg.save_every == 0:
                    self.save(self.out / "checkpoints" / f"step-{step + 1}")
        self.save(self.out / "final")
        return history

    def train_step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        results = self.collect(step)
        t1 = time.perf_counter()
        rewards = score_episodes(results, self.reward_cfg)
        samples, stats = make_samples(results, rewards, self.loss_cfg, self.reward_cfg)
        metrics = self.update(samples) if samples else {}
        t2 = time.perf_counter()
        n = len(results)
        rew = torch.tensor(rewards)
        return {
            "step": step + 1,
            "reward_mean": float(rew.mean()),
            "reward_std": float(rew.std(unbiased=False)),
            "success_rate": sum(r.score >= 1.0 for r in results) / n,
            "invalid_action_rate": sum(r.invalid_actions for r in results)
            / max(1, sum(len(r.steps) for r in results)),
            "episode_length": sum(len(r.steps) for r in results) / n,
            "completion_length": sum(len(s.completion_ids) for r in results for s in r.steps)
            / max(1, sum(len(r.steps) for r in results)),
            "samples": len(samples),
            "lr": self.scheduler.get_last_lr()[0],
            "rollout_s": round(t1 - t0, 3),
            "update_s": round(t2 - t1, 3),
            **stats,
            **metrics,
        }

    @torch.no_grad()
    def evaluate(self, step: int) -> dict[str, float]:
        results = self.collect(
            10_000 + step, split="test", greedy=True, n=self.cfg.eval_instances, group_size=2
        )
        results = [r for r in results if r.member == 0]
        return {"eval_success_rate": sum(r.score >= 1.0 for r in results) / max(1, len(results))}

    def save(self, path: Path) -> None:
        """Write the adapter (or full weights) and processor atomically: a temp dir renamed into place."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(tmp)
        self.processor.save_pretrained(tmp)
        (tmp / "train_config.json").write_text(self.cfg.to_json())
        if path.exists():
            import shutil

            shutil.rmtree(path)
        tmp.rename(path)


def format_row(row: dict[str, Any]) -> str:
    keys = (
        "step",
        "reward_mean",
        "success_rate",
        "invalid_action_rate",
        "episode_length",
        "loss",
        "eval_success_rate",
        "rollout_s",
        "update_s",
    )
    return "  ".join(
        f"{k}={row[k]:.3g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in keys if k in row
    )
