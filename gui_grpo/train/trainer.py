"""GRPO on phone tasks: roll out groups, score them, turn advantages into a policy update.

One online step: sample B task instances → set up and fork G devices each → play all B×G episodes batched
(``collect``) → rewards, checker score and penalties (``samples.score_episodes``) → group advantages, every
step of an episode carrying its episode's advantage weighted 1/T (``samples.make_samples``) → clipped policy
loss over micro-batches (``loss_pass.LossPass``) → optimizer step → metrics row. Offline step-level GRPO
(``gui_grpo.train.offline``) replaces the rollouts with G sampled answers per dataset record; the samples and
the update are the same.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from emulators.specs import parse_device_spec
from gui_grpo.policy.engine import HFEngine, Policy
from gui_grpo.policy.model import load_policy
from gui_grpo.policy.prompts import PromptBuilder
from gui_grpo.policy.usage import ModelUsage, absolute, code_version, save_usage
from gui_grpo.rollout.devices import open_devices
from gui_grpo.rollout.group import GroupJob, play_jobs, play_jobs_on, sim_device
from gui_grpo.rollout.records import EpisodeResult
from gui_grpo.train import checkpoint
from gui_grpo.train.config import TrainConfig, config_from_dict
from gui_grpo.train.curriculum import TemplateCurriculum
from gui_grpo.train.distributed import DataParallel, SilentLog
from gui_grpo.train.loss_pass import LossPass
from gui_grpo.train.metrics import MetricsLog, episode_metrics
from gui_grpo.train.offline import OfflineSource
from gui_grpo.train.ray_workers import start_rollout_pool
from gui_grpo.train.replay import SuccessReplay
from gui_grpo.train.samples import Sample, make_samples, score_episodes
from tasks.base import TaskError, check_device_kind
from tasks.suites import instances, split_templates, template_seeds


class TrainError(Exception):
    """A training run cannot start or go on; the message says why."""


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


def check_setup(cfg: TrainConfig, beta: float) -> None:
    """Refuse a run that cannot work, saying how to fix it."""
    spec = parse_device_spec(cfg.rollout.devices)
    if cfg.offline is None and spec.kind not in ("sim", "web"):
        raise TrainError(
            f"online training plays groups on PhoneSims (forked) or web pages (each replays the setup): "
            f"use --devices sim:N or web:N (got {cfg.rollout.devices}); evaluate on other devices with "
            f"`gui-grpo eval`"
        )
    if cfg.offline is None and spec.kind == "web":
        if spec.count < cfg.rollout.group_size:
            g = cfg.rollout.group_size
            raise TrainError(f"a group of {g} plays on {g} pages: give --devices web:{g} or more "
                             f"(got {cfg.rollout.devices})")
        if cfg.rollout.workers:
            raise TrainError("rollout workers play on PhoneSims; train on web pages with rollout.workers 0")
    if cfg.offline is None:
        try:
            check_device_kind(split_templates(cfg.suite, "train"), spec.kind, cfg.rollout.devices)
        except TaskError as e:
            raise TrainError(str(e)) from e
    if beta > 0 and cfg.lora.full_finetune:
        raise TrainError(
            "loss beta > 0 needs a LoRA (the reference is the adapter-disabled model): "
            "set beta 0 or drop full_finetune"
        )


class Trainer:
    """Owns the model, optimizer and devices (or dataset) of one run."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.dp = DataParallel.from_env(cfg.device)  # one rank of `torchrun`, or the only process
        self.loss_cfg = cfg.loss_config()
        check_setup(cfg, self.loss_cfg.beta)
        torch.manual_seed(cfg.seed)
        loaded = load_policy(
            cfg.model, dtype=cfg.dtype, device=cfg.device, lora=cfg.lora, adapter=cfg.adapter
        )
        self.model, self.processor, self.family = loaded
        self.loss_pass, self.policy = self._loss_pass_and_policy()
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
        self.offline = OfflineSource(cfg.offline, self.policy, cfg) if cfg.offline is not None else None
        rollout = cfg.rollout
        self.curriculum = TemplateCurriculum(floor=rollout.curriculum_floor) if rollout.curriculum else None
        self.replay = SuccessReplay() if rollout.replay_successes else None
        self.weights_version = 0  # bumped whenever the weights change; rollout workers sync on a new one
        self.rollout_pool = start_rollout_pool(cfg, self.dp) if cfg.rollout.workers else None
        # Web pages cannot fork: the run keeps its pages open and each group replays its setup on G of them.
        web = cfg.offline is None and parse_device_spec(cfg.rollout.devices).kind == "web"
        self.pages = open_devices(cfg.rollout.devices) if web else []

    def _loss_pass_and_policy(self) -> tuple[LossPass, Policy]:
        """The loss pass and the sampling policy; the policy hands its sampling prefills to the loss pass
        when reusing them is on and exact."""
        cfg = self.cfg
        builder = PromptBuilder(self.processor, self.family, cfg.prompt)
        engine = HFEngine(
            self.model,
            self.processor,
            max_new_tokens=cfg.rollout.max_new_tokens,
            temperature=cfg.rollout.temperature,
        )
        # Reusing the sampling prefill is exact only where sampling and loss compute the same thing.
        exact = self.loss_cfg.beta == 0 and cfg.lora.dropout == 0
        loss_pass = LossPass(
            self.model,
            builder,
            self.loss_cfg,
            temperature=cfg.rollout.temperature,
            banned_ids=engine.banned_ids,
            pad_id=self.processor.tokenizer.pad_token_id,
            micro_batch_tokens=cfg.optim.micro_batch_tokens,
            keep_prefill=cfg.optim.reuse_prefill and exact and not cfg.rollout.workers,
        )
        if cfg.rollout.constrained:
            engine.constraint = loss_pass.constraint = self._constraint(builder)
        return loss_pass, Policy(builder, engine, keep=loss_pass.kept)

    def _constraint(self, builder: PromptBuilder) -> Any:
        """The json action grammar for this model's tokenizer (``rollout.constrained``)."""
        from gui_grpo.policy.action_space import coord_system, resolve_format
        from gui_grpo.policy.engine import stop_tokens
        from gui_grpo.policy.grammar import ActionConstraint

        if resolve_format(self.family, self.cfg.prompt.action_format) != "json":
            raise TrainError("rollout.constrained needs prompt.action_format json (the grammar's format)")
        tok = self.processor.tokenizer
        text = getattr(self.model.config, "text_config", self.model.config)
        try:
            stop, kept = stop_tokens(tok)
            ends = [i for i in stop if i not in kept]  # a json action ends the turn: no closing tag
            return ActionConstraint(
                tok, text.vocab_size, ends, self.cfg.rollout.max_new_tokens,
                max_elements=builder.cfg.max_elements if builder.cfg.observation == "pixels+elements" else 0,
                norm1000=coord_system(self.family, self.cfg.prompt.action_format) == "norm1000",
            )
        except ValueError as e:
            raise TrainError(f"rollout.constrained: {e}") from e

    # -- resume -------------------------------------------------------------------------------------------

    @classmethod
    def resume(
        cls,
        run_dir: str | Path,
        overrides: Callable[[dict], dict] | None = None,
        say: Callable[[str], None] = print,
    ) -> Trainer:
        """A trainer in exactly the state of ``run_dir``'s newest intact checkpoint (weights, optimizer,
        scheduler, RNG, step). ``overrides`` may change the saved config's plain data (e.g. raise ``steps``).
        Damaged checkpoints skipped on the way, or a checkpoint without a manifest, are told to ``say`` in
        one line (rank 0 only); a run with none intact raises ``CheckpointError``."""
        found = checkpoint.find_resumable(run_dir)
        if found is None:
            raise TrainError(f"{run_dir} has no complete checkpoint to resume from (checkpoints/step-*)")
        data = {**found.config, "out": str(run_dir)}
        cfg = config_from_dict(overrides(data) if overrides else data)
        trainer = cls(cfg)
        trainer.load_checkpoint(found.path, found.state)
        if found.note and trainer.dp.is_main:
            say(found.note)
        return trainer

    def load_checkpoint(self, path: Path, state: dict[str, Any] | None = None) -> None:
        """Weights from ``path``; optimizer, scheduler, RNG and step from ``state`` (default: ``path``'s)."""
        state = checkpoint.load_state(path) if state is None else state
        checkpoint.load_trainable(self.model, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.restore_rng(state["rng"])
        self.step = int(state["step"])
        self.weights_version += 1
        extra = state.get("extra", {})
        self.skipped_steps = int(extra.get("skipped_steps", 0))
        if self.curriculum is not None:
            self.curriculum.load_state_dict(extra.get("curriculum", {}))

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
        pooled = bool(self.cfg.rollout.instance_pool) and split == "train" and not greedy
        if pooled:
            pool = template_seeds("train", self.cfg.rollout.instance_pool)
            rng = random.Random(f"pool:{self.cfg.seed}:{step}")
            tasks = [type(t).sample(rng.choice(pool)) for t in tasks]
        jobs = []
        for g in self.dp.share(len(tasks)):
            # A pooled instance always starts from the same phone (so a stored success of it replays
            # from the very start state); otherwise each group gets a phone of its own.
            key = f"{self.cfg.seed}:{tasks[g].task_id}" if pooled else f"{self.cfg.seed}:{step}:{g}"
            dev_seed = random.Random(key).randrange(2**31)
            jobs.append(GroupJob(tasks[g], dev_seed, g, size))
        how = {"run_seed": self.cfg.seed, "step": step, "greedy": greedy}
        how["max_steps"] = self.cfg.rollout.max_steps
        if self.rollout_pool is not None:
            self.rollout_pool.sync(self.model, self.weights_version)
            return self.rollout_pool.play(jobs, **how)
        if self.pages:
            return play_jobs_on(self.policy, jobs, self.pages, **how)
        return play_jobs(self.policy, jobs, sim_device, self.cfg.rollout.sim_resolution, **how)

    # -- one step: collect -> score -> advantages -> samples -> update -------------------------------------

    def _online_batch(self, step: int) -> tuple[list[Sample], dict[str, float]]:
        """Play the step's groups, score each episode, and turn group advantages into samples."""
        results = self.collect(step)
        if self.curriculum is not None:
            self.curriculum.update(results)
        rewards = score_episodes(results, self.cfg.reward)
        metrics = episode_metrics(results, rewards)  # of the episodes played, not the replayed ones
        replayed = 0
        if self.replay is not None:
            self.replay.add(results)
            filled, replayed = self.replay.fill(results)  # the played episodes, then the replayed ones
            rewards = rewards + score_episodes(filled[len(results):], self.cfg.reward)
            results = filled
        samples, stats = make_samples(results, rewards, self.loss_cfg, self.cfg.reward)
        stats["replayed_share"] = sum(s.replayed for s in samples) / max(1, len(samples))
        stats["replayed_episodes"] = float(replayed)
        return samples, {**metrics, **stats}

    def update(self, samples: list[Sample]) -> dict[str, float]:
        """Passes × micro-batches of the clipped policy loss, one optimizer step per pass.

        A pass whose loss or gradient norm is not finite is not applied; it counts in ``skipped_steps``.
        """
        self.model.train()
        metrics: dict[str, float] = {}
        chunks = self.loss_pass.micro_batches(samples)
        scales = self._loss_scales(chunks)
        try:
            for pass_index in range(self.cfg.optim.passes):
                self.optimizer.zero_grad(set_to_none=True)
                # The kept sampling prefills hold the weights they were sampled with: the first pass only.
                sums = self.loss_pass.backward(chunks, scales, len(samples), reuse_kept=pass_index == 0)
                metrics = self._apply(sums, len(samples))
        finally:
            self.loss_pass.drop_kept()
        with warnings.catch_warnings():
            # A skipped (non-finite) first step leaves the optimizer unstepped; the schedule still counts it.
            warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()` before"))
            self.scheduler.step()
        self.model.eval()
        self.weights_version += 1
        return metrics

    def _loss_scales(self, chunks: list[list[Sample]]) -> list[float]:
        """Per micro-batch, the factor that turns its loss into its share of the global batch's loss."""
        norms = [self.loss_pass.normalizer(c) for c in chunks]
        total = self.dp.all_sum([sum(norms)])[0]  # the global batch's normaliser, over every rank
        # policy_loss normalises within the micro-batch; rescale to the whole batch's normaliser.
        return [1.0 if self.loss_cfg.aggregation == "constant" else norm / total for norm in norms]

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

    def train_step(self, step: int) -> dict[str, Any]:
        """One GRPO step (the online or offline batch, then the update) and its metrics row."""
        t0 = time.perf_counter()
        self.loss_pass.drop_kept()
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
        """Greedy success on validation-split instances (never the test split), one episode per instance."""
        if self.offline is not None:
            return self.offline.evaluate()
        results = self.collect(
            10_000 + step, split="validation", greedy=True, n=self.cfg.eval_instances, group_size=1
        )
        wins, count = self.dp.all_sum([sum(r.score >= 1.0 for r in results), len(results)])
        return {"eval_success_rate": wins / max(1, count)}

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
        """Stop the rollout workers, close the web pages and leave the process group."""
        if self.rollout_pool is not None:
            self.rollout_pool.close()
        for page in self.pages:
            page.close()
        self.pages = []
        self.dp.close()

    # -- saving -------------------------------------------------------------------------------------------

    def _export_files(self, path: Path) -> None:
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)
        save_usage(path, self.usage())

    def usage(self) -> ModelUsage:
        """The settings this run trains with, saved beside every adapter it writes (``gui_grpo.json``)."""
        cfg = self.cfg
        return ModelUsage(
            self.family,
            cfg.prompt,
            max_new_tokens=cfg.rollout.max_new_tokens,
            sim_resolution=cfg.rollout.sim_resolution,
            trained_by="grpo",
            base_model=None if cfg.lora.full_finetune else absolute(cfg.model),
            code_version=code_version(),
        )

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
