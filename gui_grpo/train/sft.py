"""Supervised warm start on oracle demonstrations, before GRPO.

Cross-entropy on the completion tokens only: each row is prompt + target, left-padded, and log-probs are
taken at completion positions (``logits_to_keep``), so prompt tokens never contribute a gradient. The loss
is the mean over all completion tokens of an optimizer batch, accumulated over micro-batches.

- A randomly initialised tiny model (from ``gui-grpo init-model``; detected by its size, or forced with
  ``adapter.full_finetune``) is trained in full and saved as a new base checkpoint (weights + processor).
- A real checkpoint gets a LoRA, saved as an adapter; ``load_policy(base, adapter=..., lora=...)`` merges it
  before GRPO's own adapter, so the GRPO reference ("adapter disabled") is the warm-started model.

Training stops after ``epochs``, after ``patience`` epochs without a 1% better epoch loss, or when
``max_minutes`` have passed. Greedy success on held-out (test-split) instances is measured before and after.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from emulators.phonesim import SimDevice
from gui_grpo.policy.engine import HFEngine, Policy
from gui_grpo.policy.logprobs import completion_logprobs
from gui_grpo.policy.model import AdapterConfig, detect_family, load_policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.policy.usage import ModelUsage, absolute, code_version, save_usage
from gui_grpo.rollout.group import play_groups, start_group
from gui_grpo.train.demos import Demo, DemoSet
from tasks.suites import instances

TINY_PARAMETERS = 100_000_000
"""Checkpoints with fewer (estimated) parameters than this are trained in full by default."""


class SftError(Exception):
    """The warm start cannot run with these inputs; the message says how to fix it."""


@dataclass
class SftConfig:
    """One supervised warm start."""

    model: str
    """Base checkpoint directory."""
    out: str
    """Where the warm start is written: a full checkpoint, or an adapter (see ``full``)."""
    epochs: int = 20
    lr: float | None = None
    """None: 1e-3 for full training, 2e-4 for LoRA."""
    batch_size: int = 8
    """Demonstration steps per optimizer step."""
    micro_batch: int = 4
    """Steps per forward/backward pass (gradient accumulation within a batch)."""
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    adapter: AdapterConfig | None = None
    """What is trained: ``full_finetune`` trains every language-model weight and saves a full checkpoint; a
    LoRA is saved as an adapter. None: full for a tiny checkpoint (fewer than ``TINY_PARAMETERS``), else a
    LoRA with ``AdapterConfig``'s defaults."""
    train_vision: bool = False
    """Also train the vision tower (full mode only)."""
    patience: int = 3
    """Stop after this many epochs without a 1% lower epoch loss (0: never)."""
    max_minutes: float = 10.0
    """Stop after this much training time (evaluation not counted)."""
    seed: int = 0
    eval_instances: int = 16
    """Held-out instances played greedily before and after (0: no evaluation)."""
    eval_split: str = "test"
    max_steps: int = 8
    """Cap on steps per evaluation episode."""
    max_new_tokens: int = 48
    dtype: str = "auto"
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.micro_batch < 1:
            raise SftError("epochs, batch_size and micro_batch must be >= 1")
        if self.lr is not None and (self.lr <= 0 or not math.isfinite(self.lr)):
            raise SftError(f"lr must be a positive number, got {self.lr}")
        if self.eval_instances < 0 or self.max_steps < 1:
            raise SftError("eval_instances must be >= 0 and max_steps >= 1")
        if self.max_minutes <= 0:
            raise SftError("max_minutes must be > 0")


@dataclass
class SftResult:
    out: Path
    full: bool
    epochs: list[dict[str, float]] = field(default_factory=list)
    success_before: float | None = None
    success_after: float | None = None
    seconds: float = 0.0


def estimate_parameters(model_path: str | Path) -> int:
    """Language-model parameter count estimated from config.json (embeddings, attention, MLP)."""
    config = json.loads((Path(model_path) / "config.json").read_text())
    text = config.get("text_config", config)
    h, layers = int(text["hidden_size"]), int(text["num_hidden_layers"])
    inter, vocab = int(text["intermediate_size"]), int(text["vocab_size"])
    return 2 * vocab * h + layers * (4 * h * h + 3 * h * inter)


def resolve_adapter(cfg: SftConfig) -> AdapterConfig:
    """``cfg.adapter``, or the default for the checkpoint's size when it is None."""
    if cfg.adapter is not None:
        return cfg.adapter
    return AdapterConfig(full_finetune=estimate_parameters(cfg.model) < TINY_PARAMETERS)


def completion_ids(demo: Demo, tokenizer: Any) -> list[int]:
    """Token ids of a demo's target (the action text, then the stop token as one special token)."""
    return tokenizer(demo.target_text, add_special_tokens=False)["input_ids"]


def sft_loss(
    model: Any, batch: dict[str, torch.Tensor], lens: list[int], banned_ids: list[int] | None = None
) -> tuple[torch.Tensor, int]:
    """Summed negative log-likelihood of the completion tokens (prompt positions excluded) and their count."""
    logp, mask = completion_logprobs(model, batch, lens, banned_ids=banned_ids)  # (B, C), (B, C)
    return -(logp * mask).sum(), int(mask.sum())


class SftTrainer:
    """Owns the model and optimizer of one warm start."""

    def __init__(self, cfg: SftConfig, demos: DemoSet) -> None:
        family = detect_family(cfg.model)
        if demos.family != family:
            raise SftError(
                f"the demos were recorded for {demos.family} but {cfg.model} is a {family} model: record "
                f"them again with `gui-grpo demos --model {cfg.model}`"
            )
        self.cfg, self.demos = cfg, demos
        self.adapter = resolve_adapter(cfg)
        self.full = self.adapter.full_finetune
        torch.manual_seed(cfg.seed)
        loaded = load_policy(
            cfg.model,
            dtype=cfg.dtype,  # type: ignore[arg-type]
            device=cfg.device,  # type: ignore[arg-type]
            lora=self.adapter,
            train_vision=cfg.train_vision and self.full,
        )
        self.model, self.processor, self.family = loaded
        self.builder = PromptBuilder(self.processor, family, demos.prompt_config)
        self.engine = HFEngine(self.model, self.processor, max_new_tokens=cfg.max_new_tokens)
        params = [p for p in self.model.parameters() if p.requires_grad]
        lr = cfg.lr if cfg.lr is not None else (1e-3 if self.full else 2e-4)
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
        tok = self.processor.tokenizer
        self.items = [(d, completion_ids(d, tok)) for d in demos.demos]

    def batch_loss(self, chunk: list[tuple[Demo, list[int]]], normalizer: int) -> float:
        """Forward and backward one micro-batch; the loss is divided by the batch's completion tokens."""
        prompts = [d.prompt() for d, _ in chunk]
        comps = [ids for _, ids in chunk]
        batch = self.builder.encode(prompts, completions=comps)
        total, _ = sft_loss(self.model, batch, [len(c) for c in comps], self.engine.banned_ids)
        (total / normalizer).backward()
        return float(total.detach())

    def epoch(self, epoch: int, deadline: float = math.inf) -> tuple[float | None, bool]:
        """One pass over the shuffled demos; returns the mean token NLL (None if no batch ran) and whether
        the pass ran to its end.

        The pass stops between optimizer steps once ``time.perf_counter()`` passes ``deadline``, so the
        time budget holds to within one batch instead of one epoch.
        """
        self.model.train()
        order = list(range(len(self.items)))
        random.Random(f"sft:{self.cfg.seed}:{epoch}").shuffle(order)
        params = [p for p in self.model.parameters() if p.requires_grad]
        nll_sum, tokens, complete = 0.0, 0, True
        for start in range(0, len(order), self.cfg.batch_size):
            if time.perf_counter() > deadline:
                complete = False
                break
            batch = [self.items[i] for i in order[start : start + self.cfg.batch_size]]
            normalizer = sum(len(ids) for _, ids in batch)
            self.optimizer.zero_grad(set_to_none=True)
            for m in range(0, len(batch), self.cfg.micro_batch):
                nll_sum += self.batch_loss(batch[m : m + self.cfg.micro_batch], normalizer)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.max_grad_norm)
            self.optimizer.step()
            tokens += normalizer
        self.model.eval()
        return (nll_sum / tokens if tokens else None), complete

    def train(self, log: Any = print) -> list[dict[str, float]]:
        """Epochs until ``epochs``, the patience or the time budget runs out (mid-epoch if need be)."""
        history: list[dict[str, float]] = []
        best, stale, t0 = math.inf, 0, time.perf_counter()
        deadline = t0 + 60 * self.cfg.max_minutes
        for e in range(self.cfg.epochs):
            loss, complete = self.epoch(e, deadline)
            elapsed = time.perf_counter() - t0
            if loss is None:
                break  # the budget ran out at an epoch boundary
            history.append({"epoch": e + 1, "loss": round(loss, 5), "seconds": round(elapsed, 1)})
            cut = "" if complete else ", cut short by the time budget"
            log(f"epoch {e + 1}: loss {loss:.4f} ({elapsed:.0f} s{cut})")
            if not math.isfinite(loss):
                raise SftError(f"the loss became {loss} at epoch {e + 1}: lower --lr")
            stale = 0 if loss < 0.99 * best else stale + 1
            best = min(best, loss)
            if not complete or (self.cfg.patience and stale >= self.cfg.patience):
                break
        return history

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Greedy success and invalid-action rate on held-out instances of the demos' suite."""
        return greedy_success(
            Policy(self.builder, self.engine),
            suite=str(self.demos.manifest["suite"]),
            split=self.cfg.eval_split,
            n=self.cfg.eval_instances,
            seed=self.cfg.seed,
            max_steps=self.cfg.max_steps,
            resolution=str(self.demos.manifest.get("resolution", "small")),
        )

    def usage(self) -> ModelUsage:
        """The settings the warm start was trained with: the demonstrations' prompts and resolution."""
        return ModelUsage(
            self.family,
            self.demos.prompt_config,
            max_new_tokens=self.cfg.max_new_tokens,
            sim_resolution=str(self.demos.manifest.get("resolution", "small")),
            trained_by="sft",
            base_model=None if self.full else absolute(self.cfg.model),
            code_version=code_version(),
        )

    def save(self, summary: dict[str, Any]) -> Path:
        """Write the warm start atomically: full weights or the adapter, the processor, and sft.json."""
        out = Path(self.cfg.out)
        tmp = out.with_name(out.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        self.model.save_pretrained(tmp)
        self.processor.save_pretrained(tmp)
        save_usage(tmp, self.usage())
        (tmp / "sft.json").write_text(json.dumps(summary, indent=2, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        return out


def greedy_success(
    policy: Policy,
    *,
    suite: str,
    split: str = "test",
    n: int = 16,
    seed: int = 0,
    max_steps: int = 8,
    resolution: str = "small",
) -> dict[str, float]:
    """Play ``n`` instances of ``suite``/``split`` once each, greedily; success and invalid-action rates."""
    groups = []
    for g, task in enumerate(instances(suite, split, n, seed=1_000 + seed)):
        dev_seed = random.Random(f"sft-eval:{seed}:{g}").randrange(2**31)
        groups.append(start_group(task, dev_seed, g, 1, lambda s=dev_seed: SimDevice(s, resolution)))
    results = play_groups(policy, groups, run_seed=seed, step=0, greedy=True, max_steps=max_steps)
    for g in groups:
        for d in g.devices:
            d.close()
    steps = sum(len(r.steps) for r in results)
    return {
        "success_rate": sum(r.score >= 1.0 for r in results) / max(1, len(results)),
        "invalid_action_rate": sum(r.invalid_actions for r in results) / max(1, steps),
        "episode_length": steps / max(1, len(results)),
    }


def run_sft(cfg: SftConfig, demos: DemoSet, log: Any = print) -> SftResult:
    """Evaluate, train, evaluate, save. The saved ``sft.json`` records the figures and the prompt config."""
    trainer = SftTrainer(cfg, demos)
    mode = "full-parameter" if trainer.full else f"LoRA r={trainer.adapter.r}"
    log(f"supervised training ({mode}) from {cfg.model} on {len(trainer.items)} demo steps of suite "
        f"{demos.manifest['suite']!r}")
    before = trainer.evaluate() if cfg.eval_instances else None
    if before is not None:
        log(f"before: greedy success {before['success_rate']:.2f} on {cfg.eval_instances} {cfg.eval_split}")
    t0 = time.perf_counter()
    history = trainer.train(log)
    seconds = time.perf_counter() - t0
    after = trainer.evaluate() if cfg.eval_instances else None
    if after is not None:
        log(f"after: greedy success {after['success_rate']:.2f}, invalid {after['invalid_action_rate']:.2f}")
    summary = {
        "config": dataclasses.asdict(cfg),
        "full": trainer.full,
        "base_model": absolute(cfg.model),
        "family": trainer.family,
        "prompt": dataclasses.asdict(demos.prompt_config),
        "demos": {k: demos.manifest.get(k) for k in ("suite", "split", "seeds_per_template", "steps")},
        "epochs": history,
        "train_seconds": round(seconds, 1),
        "eval_before": before,
        "eval_after": after,
    }
    out = trainer.save(summary)
    return SftResult(
        out,
        trainer.full,
        history,
        before["success_rate"] if before else None,
        after["success_rate"] if after else None,
        seconds,
    )


def prompt_flags(cfg: PromptConfig) -> str:
    """The ``gui-grpo train`` flags that reproduce ``cfg``'s observation, action format and image size."""
    flags = f"--observation {cfg.observation} --max-pixels {cfg.max_pixels}"
    return flags + (f" --action-format {cfg.action_format}" if cfg.action_format else "")
