"""GRPO on phone tasks: roll out groups, score them, turn advantages into a policy update.

One online step: sample B task instances → set up and fork G devices each → play all B×G episodes batched →
rewards (checker score and penalties) → group advantages → every step of an episode carries its
episode's advantage, weighted 1/T → clipped policy loss over micro-batches → optimizer step. Offline
step-level GRPO (``gui_grpo.train.offline``) replaces the rollouts with G sampled answers per dataset record;
the update is the same.

A non-finite loss or gradient norm skips the optimizer step (counted in ``skipped_steps``). Checkpoints are
atomic (``gui_grpo.train.checkpoint``); ``Trainer.resume`` continues a run exactly where its last checkpoint
left it. Groups are played in this process or on Ray rollout workers (``gui_grpo.train.ray_workers``); under
``torchrun`` each rank plays and learns on its share of the groups (``gui_grpo.train.distributed``; see
docs/SCALING.md).
"""

from __future__ import annotations

import math
import random
import re
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from emulators.specs import parse_device_spec
from gui_grpo.grpo.advantages import group_advantages, step_advantages, step_weights, zero_std_groups
from gui_grpo.grpo.config import LossConfig, RewardConfig
from gui_grpo.grpo.loss import loss_normalizer, policy_loss
from gui_grpo.grpo.rewards import episode_reward
from gui_grpo.policy.engine import HFEngine, prompt_digest
from gui_grpo.policy.logprobs import CompletionStats, completion_stats, encode_shared, right_aligned
from gui_grpo.policy.model import LoraSettings, load_policy
from gui_grpo.policy.prompts import Prompt, PromptBuilder
from gui_grpo.policy.shared_prefix import PrefixPass, SharedPrefixBatch, completion_pass, shared_prefix_stats
from gui_grpo.rollout.play import EpisodeResult, Policy, Step
from gui_grpo.train import checkpoint
from gui_grpo.train.config import TrainConfig, config_from_dict
from gui_grpo.train.curriculum import TemplateCurriculum
from gui_grpo.train.distributed import DataParallel, SilentLog
from gui_grpo.train.metrics import MetricsLog, episode_metrics
from gui_grpo.train.ray_workers import GroupJob, play_jobs, sim_device, start_rollout_pool
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


def prompt_key(step: Step) -> tuple[str, tuple[bytes, ...]]:
    """Steps with equal keys were sampled from the same prompt (text and screenshots)."""
    return step.prompt_text, tuple(step.images_png)


def score_episodes(results: list[EpisodeResult], reward_cfg: RewardConfig) -> list[float]:
    rewards = []
    for r in results:
        value, _ = episode_reward(
            r.score,
            claimed_status="success" if r.claims_success else r.claimed_status,
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
    """Group advantages per episode, spread over its steps (weight 1/T_i when configured); an invalid step
    carries at most ``reward_cfg.invalid_step_advantage``."""
    group_ids = torch.tensor([r.group for r in results])  # (N,)
    rew = torch.tensor(rewards, dtype=torch.float32)  # (N,)
    adv = group_advantages(rew, group_ids, scale=loss_cfg.scale_std)  # (N,)
    zero = zero_std_groups(rew, group_ids)  # (N,) bool
    zero_groups = {g for g, z in zip(group_ids.tolist(), zero.tolist(), strict=True) if z}
    stats = {"frac_reward_zero_std": len(zero_groups) / max(1, len(set(group_ids.tolist())))}
    kept = [
        (r, a)
        for r, a, z in zip(results, adv.tolist(), zero.tolist(), strict=True)
        if r.steps and r.lost is None and not (loss_cfg.drop_zero_std_groups and z)
    ]
    if not kept:
        return [], stats
    steps = [s for r, _ in kept for s in r.steps]
    lengths = torch.tensor([len(r.steps) for r, _ in kept])  # (E,)
    step_adv = step_advantages(
        torch.tensor([a for _, a in kept]), lengths, torch.tensor([s.valid for s in steps]),
        reward_cfg.invalid_step_advantage,
    )  # (S,)
    weights = step_weights(lengths, reward_cfg.inverse_length_weighting)  # (S,)
    samples = [Sample(s, a, w) for s, a, w in zip(steps, step_adv.tolist(), weights.tolist(), strict=True)]
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

    share_prompts: bool = True
    """Run a prompt shared by several samples of a micro-batch once in the loss pass
    (``gui_grpo.policy.shared_prefix``); False forces the plain pass (benchmarks compare the two)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.dp = DataParallel.from_env(cfg.device)  # one rank of `torchrun`, or the only process
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
        # Reusing the sampling prefill is exact only where sampling and loss compute the same thing.
        exact = self.loss_cfg.beta == 0 and cfg.lora.dropout == 0
        engine.keep_prefill = cfg.optim.reuse_prefill and exact and not cfg.rollout.workers
        self.policy = Policy(builder, engine)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        if not self.params:
            raise TrainError("the model has no trainable parameters")
        self.dp.broadcast_parameters(self.params)
        opt = cfg.optim
        self.optimizer = torch.optim.AdamW(self.params, lr=opt.lr, weight_decay=opt.weight_decay)
        schedule = LrSchedule(opt.warmup_steps, cfg.steps, opt.lr_schedule)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.out = Path(cfg.out)
        self.step = 0
        self.skipped_steps = 0
        self.offline = None
        if cfg.offline is not None:
            from gui_grpo.train.offline import OfflineSource

            self.offline = OfflineSource(cfg.offline, self.policy, cfg)
        self.curriculum = TemplateCurriculum() if cfg.rollout.curriculum else None
        self.weights_version = 0  # bumped whenever the weights change; rollout workers sync on a new one
        self.rollout_pool = start_rollout_pool(cfg, self.dp) if cfg.rollout.workers else None

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
        self.weights_version += 1
        self.skipped_steps = int(state["extra"].get("skipped_steps", 0))
        if self.curriculum is not None:
            self.curriculum.load_state_dict(state["extra"].get("curriculum", {}))

    # -- rollouts -----------------------------------------------------------------------------------------

    def collect(
        self,
        step: int,
        split: str = "train",
        greedy: bool = False,
        n: int | None = None,
        group_size: int | None = None,
    ) -> list[EpisodeResult]:
        """Play one batch of groups (this rank's share of them), in this process or on rollout workers."""
        n = n or self.cfg.rollout.groups_per_step
        size = group_size or self.cfg.rollout.group_size
        weights = self.curriculum.weights() if self.curriculum and split == "train" and not greedy else None
        tasks = instances(self.cfg.suite, split, n, seed=self.cfg.seed * 1_000_003 + step, weights=weights)
        jobs = []
        for g in self.dp.share(len(tasks)):
            dev_seed = random.Random(f"{self.cfg.seed}:{step}:{g}").randrange(2**31)
            jobs.append(GroupJob(tasks[g], dev_seed, g, size))
        how = {"run_seed": self.cfg.seed, "step": step, "greedy": greedy}
        how["max_steps"] = self.cfg.rollout.max_steps_per_episode
        if self.rollout_pool is not None:
            self.rollout_pool.sync(self.model, self.weights_version)
            return self.rollout_pool.play(jobs, **how)
        return play_jobs(self.policy, jobs, sim_device, self.cfg.rollout.sim_resolution, **how)

    def _online_batch(self, step: int) -> tuple[list[Sample], dict[str, float]]:
        results = self.collect(step)
        if self.curriculum is not None:
            self.curriculum.update(results)
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
        total = self.dp.all_sum([sum(norms)])[0]  # the global batch's normaliser, over every rank
        kept = self._kept_prefixes(chunks)  # chunk -> its prompts' sampling prefill, for the first pass
        uses = Counter(id(k[0]) for k in kept.values())
        try:
            for pass_index in range(self.cfg.optim.passes):
                self.optimizer.zero_grad(set_to_none=True)
                sums: dict[str, float] = {}
                for i, (chunk, norm) in enumerate(zip(chunks, norms, strict=True)):
                    # policy_loss normalises within the micro-batch; rescale to the whole batch's normaliser.
                    scale = 1.0 if self.loss_cfg.aggregation == "constant" else norm / total
                    reuse = kept.get(i) if pass_index == 0 else None
                    loss, m = self._micro_loss(chunk, reuse)
                    retain = False
                    if reuse is not None:  # a prefill shared by later micro-batches keeps its graph
                        uses[id(reuse[0])] -= 1
                        retain = uses[id(reuse[0])] > 0
                    (loss * scale).backward(retain_graph=retain)
                    for k, v in m.items():
                        sums[k] = sums.get(k, 0.0) + float(v) * len(chunk) / len(samples)
                metrics = self._apply(sums, len(samples))
        finally:
            self._drop_kept()
        with warnings.catch_warnings():
            # A skipped (non-finite) first step leaves the optimizer unstepped; the schedule still counts it.
            warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()` before"))
            self.scheduler.step()
        self.model.eval()
        self.weights_version += 1
        return metrics

    def _apply(self, sums: dict[str, float], n: int) -> dict[str, float]:
        """Sum gradients over ranks, clip, and step unless the loss or the gradient norm is not finite."""
        self.dp.reduce_gradients(self.params)  # sum over ranks: the one-process gradient
        sums = self.dp.mean_metrics(sums, n)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, self.cfg.optim.max_grad_norm)
        sums["grad_norm"] = float(grad_norm)
        if math.isfinite(sums["loss"]) and math.isfinite(sums["grad_norm"]):
            self.optimizer.step()
        else:
            self.skipped_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
        return sums

    def _drop_kept(self) -> None:
        kept = getattr(self.policy.engine, "kept", None)
        if kept:
            kept.clear()

    def _kept_prefixes(self, chunks: list[list[Sample]]) -> dict[int, tuple[PrefixPass, torch.Tensor]]:
        """Micro-batches whose every sample was sampled from a prefill the engine kept (one per batch)."""
        kept = getattr(self.policy.engine, "kept", None)
        if not kept:
            return {}
        digests: dict[tuple, str] = {}
        plan = {}
        for i, chunk in enumerate(chunks):
            found = []
            for s in chunk:
                key = prompt_key(s.step)
                if key not in digests:
                    digests[key] = prompt_digest(rebuild_prompt(s.step))
                found.append(kept.get(digests[key]))
            if all(found) and len({id(k.prefix) for k in found}) == 1:
                plan[i] = (found[0].prefix, torch.tensor([k.row for k in found]))
        return plan

    def _micro_batches(self, samples: list[Sample]) -> list[list[Sample]]:
        """Micro-batches within the token budget, whole prompt groups together where they fit: samples that
        share a prompt sit side by side, and the prompt counts once per micro-batch it is in (the loss pass
        runs it once there, ``gui_grpo.policy.shared_prefix``)."""
        groups: dict[tuple, list[Sample]] = {}
        for s in samples:
            groups.setdefault(prompt_key(s.step), []).append(s)
        batches: list[list[Sample]] = [[]]
        used, in_batch = 0, set()  # tokens and prompt keys of the last micro-batch
        for key, members in groups.items():
            # The prompt's token count (image tokens included) when the rollout recorded it.
            prompt_cost = members[0].step.prompt_tokens or len(key[0]) // 3
            for s in members:
                cost = len(s.step.completion_ids) + (0 if key in in_batch else prompt_cost)
                if batches[-1] and used + cost > self.cfg.optim.micro_batch_tokens:
                    batches.append([])
                    used, in_batch = 0, set()
                    cost = len(s.step.completion_ids) + prompt_cost
                batches[-1].append(s)
                used += cost
                in_batch.add(key)
        return [b for b in batches if b]

    @staticmethod
    def _mask_and_weights(chunk: list[Sample]) -> tuple[torch.Tensor, torch.Tensor]:
        lens = [len(s.step.completion_ids) for s in chunk]
        mask = right_aligned([[1.0] * n for n in lens], max(lens))  # (b, C)
        return mask, torch.tensor([s.weight for s in chunk])

    def _encode_chunk(self, chunk: list[Sample]) -> dict[str, Any]:
        # The G samples of a group step share their prompt: decode, tokenise and embed its images once.
        keys = [prompt_key(s.step) for s in chunk]
        decoded: dict[Any, Prompt] = {}
        for k, s in zip(keys, chunk, strict=True):
            if k not in decoded:
                decoded[k] = rebuild_prompt(s.step)
        prompts = [decoded[k] for k in keys]
        comps = [s.step.completion_ids for s in chunk]
        return encode_shared(self.policy.builder, self.model, prompts, keys, comps)

    def _encode_prefix_batch(self, chunk: list[Sample]) -> SharedPrefixBatch:
        """Each distinct prompt of ``chunk`` decoded and encoded once, with every sample's completion."""
        first: dict[tuple, int] = {}
        for i, s in enumerate(chunk):
            first.setdefault(prompt_key(s.step), i)
        slot = {k: u for u, k in enumerate(first)}
        prompts = self.policy.builder.encode([rebuild_prompt(chunk[i].step) for i in first.values()])
        rows = torch.tensor([slot[prompt_key(s.step)] for s in chunk])  # (b,)
        pad_id = self.processor.tokenizer.pad_token_id
        return SharedPrefixBatch(prompts, rows, [s.step.completion_ids for s in chunk], pad_id)

    def _loss_stats(self, chunk: list[Sample]) -> Callable[[], CompletionStats]:
        """The completion stats of ``chunk`` under the current model state, encoded once for both the policy
        and the reference pass: shared-prefix when two samples share a prompt, else the plain pass."""
        temperature, banned = self.cfg.rollout.temperature, self.policy.engine.banned_ids
        if self.share_prompts and len({prompt_key(s.step) for s in chunk}) < len(chunk):
            prefix = self._encode_prefix_batch(chunk)
            return lambda: shared_prefix_stats(self.model, prefix, temperature, banned)
        batch = self._encode_chunk(chunk)
        lens = [len(s.step.completion_ids) for s in chunk]
        return lambda: completion_stats(self.model, batch, lens, temperature, banned)

    def _micro_loss(
        self, chunk: list[Sample], kept: tuple[PrefixPass, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, dict]:
        if kept is not None:
            prefix, rows = kept
            pad_id = self.processor.tokenizer.pad_token_id
            temperature, banned = self.cfg.rollout.temperature, self.policy.engine.banned_ids
            comps = [s.step.completion_ids for s in chunk]
            stats = lambda: completion_pass(self.model, prefix, rows, comps, pad_id, temperature, banned)  # noqa: E731
        else:
            stats = self._loss_stats(chunk)
        logp, mask, entropy = stats()  # (b, C) each
        old = right_aligned([s.step.logprobs for s in chunk], logp.shape[1]).to(logp.device)  # (b, C)
        adv = torch.tensor([s.advantage for s in chunk], device=logp.device)  # (b,)
        weights = torch.tensor([s.weight for s in chunk], device=logp.device)  # (b,)
        ref = None
        if self.loss_cfg.beta > 0:
            with torch.no_grad(), self.model.disable_adapter():
                ref = stats().logp
        loss, m = policy_loss(logp, old, adv, mask, self.loss_cfg, ref_logp=ref, step_weights=weights)
        ent = float((entropy * mask).sum() / mask.sum().clamp(min=1.0))
        return loss, {"loss": float(loss.detach()), "entropy": ent, **m}

    # -- the loop -----------------------------------------------------------------------------------------

    def train(self, until: int | None = None) -> list[dict[str, Any]]:
        """Run the remaining steps (or stop after step ``until``, checkpointed, as a kill would); write
        config, metrics, checkpoints and, at the end of the run, ``final/`` under ``cfg.out``."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.dp.is_main:
            (self.out / "config.json").write_text(self.cfg.to_json())
        history = []
        saved_at = None
        stop = self.cfg.steps if until is None else min(until, self.cfg.steps)
        deadline = time.monotonic() + 60 * self.cfg.max_minutes if self.cfg.max_minutes else None
        log_cls = MetricsLog if self.dp.is_main else SilentLog
        with log_cls(self.out, self.cfg.steps, self.step, self.cfg.progress_bar) as log:
            while self.step < stop:
                row = self.train_step(self.step)
                self.step += 1
                if self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
                    row.update(self.evaluate(self.step))
                history.append(row)
                log.write(row)
                if self.cfg.save_every and self.step % self.cfg.save_every == 0:
                    self._save_on_main()
                    saved_at = self.step
                # Ranks stop together: any rank past the deadline stops them all.
                if deadline is not None and self.dp.all_sum([float(time.monotonic() > deadline)])[0] > 0:
                    break
        if saved_at != self.step:
            self._save_on_main()
        if self.step >= self.cfg.steps or deadline is not None:
            self._save_on_main(final=True)
        return history

    def _save_on_main(self, final: bool = False) -> None:
        """Rank 0 writes a checkpoint (or ``final/``); the other ranks wait for it."""
        if self.dp.is_main and final:
            self.export(self.out / "final")
        elif self.dp.is_main:
            self.save_checkpoint()
        self.dp.barrier()

    def close(self) -> None:
        """Stop the rollout workers and leave the process group."""
        if self.rollout_pool is not None:
            self.rollout_pool.close()
        self.dp.close()

    def train_step(self, step: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        self._drop_kept()
        if self.offline is not None:
            samples, stats = self.offline.batch(step, self.dp.share(self.cfg.rollout.groups_per_step))
        else:
            samples, stats = self._online_batch(step)
        stats = self.dp.mean_metrics(stats, len(samples), summed=("lost_episodes",))
        t1 = time.perf_counter()
        n_samples = int(self.dp.all_sum([len(samples)])[0])
        metrics = self.update(samples) if n_samples else {}
        t2 = time.perf_counter()
        return {
            "step": step + 1,
            **stats,
            **metrics,
            "samples": n_samples,
            "skipped_steps": self.skipped_steps,
            "lr": self.scheduler.get_last_lr()[0],
            "rollout_s": round(t1 - t0, 3),
            "learn_s": round(t2 - t1, 3),
            "samples_per_s": round(n_samples / max(t2 - t0, 1e-9), 3),
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
        wins, count = self.dp.all_sum([sum(r.score >= 1.0 for r in results), len(results)])
        return {"eval_success_rate": wins / max(1, count)}

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
            extra={
                "skipped_steps": self.skipped_steps,
                "curriculum": self.curriculum.state_dict() if self.curriculum else {},
            },
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
