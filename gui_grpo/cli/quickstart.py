"""The main job: warm start a tiny model on oracle demonstrations, then GRPO, on PhoneSim, on a CPU.

``gui-grpo train`` with no arguments runs the ``quickstart`` preset:

1. build the tiny Qwen2.5-VL model if ``runs/tiny`` is absent (``gui-grpo init-model``);
2. record oracle demonstrations (``demo_seeds`` episodes per template of the train split);
3. supervised warm start, full-parameter, until the loss stops improving or ``warm.max_minutes`` pass;
4. evaluate the warm start greedily on held-out instances (test-split parameters) and held-out templates;
5. GRPO from the warm start (LoRA; the reference is the warm-started model);
6. evaluate again on the same instances, print a before/after table with Wilson 95% intervals, plot the
   curves, and say where the run is.

Budgets are fixed in the preset, not tuned per run. ``--preset smoke`` runs the same pipeline in seconds.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gui_grpo.policy.model import AdapterConfig
from gui_grpo.policy.prompts import PromptConfig
from gui_grpo.policy.usage import absolute, code_version
from gui_grpo.train.config import LossSection, OptimConfig, RolloutConfig, TrainConfig
from gui_grpo.train.sft import SftConfig

QUICKSTART_PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=40_000)


QUICKSTART_GRPO = TrainConfig(
    model="runs/tiny",  # replaced by the warm start when the job runs
    suite="easy",
    steps=200,  # an upper bound: max_minutes usually ends the phase first
    max_minutes=10.0,
    eval_every=25,  # held-out success over time, for the curves: 8 greedy episodes, a few seconds each time
    eval_instances=8,
    save_every=25,  # a crash loses at most 25 steps: `gui-grpo train --resume RUN/grpo` goes on
    device="cpu",
    dtype="float32",
    rollout=RolloutConfig(groups_per_step=6, group_size=8, max_new_tokens=40, max_steps=8, curriculum=True),
    optim=OptimConfig(lr=5e-4),
    lora=AdapterConfig(r=16, alpha=32),
    loss=LossSection(preset="grpo"),
    prompt=QUICKSTART_PROMPT,
)
"""The GRPO phase of the main job: ``TrainConfig``'s defaults with these changes."""


def warm_start_config(*, epochs: int, max_minutes: float) -> SftConfig:
    """The warm start: full-parameter, until the loss stops improving or the budget is spent; its model,
    output directory, seed and token cap are filled in when the job runs."""
    return SftConfig(
        model="runs/tiny", out="warm_start", epochs=epochs, max_minutes=max_minutes, patience=3,
        adapter=AdapterConfig(full_finetune=True), eval_instances=0, device="cpu", dtype="float32",
    )


@dataclass(frozen=True)
class Preset:
    """Everything the main job does, with its budgets.

    The GRPO phase is a whole ``TrainConfig`` (``grpo``); the suite, seed, prompt, token and step caps the
    other phases use are read from it, so each setting exists once. The warm start is an ``SftConfig``
    whose model, output, seed and token cap are filled in when the job runs.
    """

    name: str
    grpo: TrainConfig = field(default_factory=lambda: copy.deepcopy(QUICKSTART_GRPO))
    warm: SftConfig = field(default_factory=lambda: warm_start_config(epochs=30, max_minutes=10.0))
    model: str = "runs/tiny"
    """The base model; built with ``gui-grpo init-model`` when absent."""
    out: str = "runs/quickstart"
    demo_seeds: int = 20
    """Oracle episodes per train-split template for the warm start."""
    eval_episodes: int = 200
    heldout_episodes: int = 50
    eval_batch: int = 25

    @property
    def suite(self) -> str:
        return self.grpo.suite

    @property
    def seed(self) -> int:
        return self.grpo.seed

    @property
    def prompt(self) -> PromptConfig:
        return self.grpo.prompt

    @property
    def progress_bar(self) -> bool:
        return self.grpo.progress_bar

    @property
    def max_new_tokens(self) -> int:
        return self.grpo.rollout.max_new_tokens

    @property
    def max_steps(self) -> int | None:
        return self.grpo.rollout.max_steps

    def with_options(
        self, *, out: str | None = None, seed: int | None = None, progress_bar: bool | None = None
    ) -> Preset:
        """This job with another run directory, seed or progress display (all a preset takes)."""
        grpo = self.grpo
        if seed is not None:
            grpo = dataclasses.replace(grpo, seed=seed)
        if progress_bar is not None:
            grpo = dataclasses.replace(grpo, progress_bar=progress_bar)
        return dataclasses.replace(self, grpo=grpo, out=self.out if out is None else out)


PRESETS: dict[str, Preset] = {
    "quickstart": Preset("quickstart"),
    "smoke": Preset(
        "smoke",
        grpo=dataclasses.replace(
            QUICKSTART_GRPO,
            suite="smoke",
            steps=1,
            rollout=RolloutConfig(
                groups_per_step=1, group_size=2, max_new_tokens=24, max_steps=4, curriculum=True
            ),
        ),
        warm=warm_start_config(epochs=3, max_minutes=0.5),
        out="runs/smoke",
        demo_seeds=2,
        eval_episodes=4,
        heldout_episodes=0,
        eval_batch=4,
    ),
}


def _log_to(path: Path, log: Callable[[str], None]) -> Callable[[str], None]:
    def write(line: str) -> None:
        log(line)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    return write


def ensure_model(preset: Preset, log: Callable[[str], None]) -> Path:
    path = Path(preset.model)
    if (path / "config.json").is_file():
        log(f"model: {path} (exists)")
        return path
    from gui_grpo.modeling.build import init_model

    built = init_model(path, family="qwen2_5_vl", size="tiny", seed=preset.seed)
    log(f"model: built {path} ({built.parameters / 1e6:.2f} M parameters)")
    return path


def warm_start(preset: Preset, model: Path, out: Path, log: Callable[[str], None]) -> Path:
    """Demonstrations of the train split, then full-parameter SFT; returns the warm-started checkpoint."""
    from gui_grpo.policy.model import load_policy
    from gui_grpo.policy.prompts import PromptBuilder
    from gui_grpo.train.demos import build_manifest, load_demos, record_demos, write_demos
    from gui_grpo.train.sft import run_sft

    _, processor, family = load_policy(model, device="cpu", dtype="float32")
    builder = PromptBuilder(processor, family, preset.prompt)
    t0 = time.perf_counter()
    demos, episodes = record_demos(builder, suite=preset.suite, split="train", seeds=preset.demo_seeds)
    manifest = build_manifest(
        builder, suite=preset.suite, split="train", seeds=preset.demo_seeds, model=str(model)
    )
    write_demos(out / "demos", demos, episodes, manifest)
    log(f"demos: {len(demos)} steps from {len(episodes)} oracle episodes ({time.perf_counter() - t0:.0f} s)")
    cfg = dataclasses.replace(
        preset.warm,
        model=str(model),
        out=str(out / preset.warm.out),
        seed=preset.seed,
        max_new_tokens=preset.max_new_tokens,
    )
    result = run_sft(cfg, load_demos(out / "demos"), log=log)
    last = result.epochs[-1]["loss"] if result.epochs else float("nan")
    log(f"warm start: {len(result.epochs)} epochs in {result.seconds:.0f} s, last loss {last:.4f}")
    return result.out


def evaluate(preset: Preset, model: Path, adapter: Path | None, out: Path, split: str, n: int) -> dict:
    from gui_grpo.eval.evaluate import EvalConfig, run_evaluation

    cfg = EvalConfig(
        model=str(model),
        adapter=str(adapter) if adapter else None,
        out=str(out),
        suite=preset.suite,
        split=split,
        episodes=n,
        devices=f"sim:{min(n, preset.eval_batch)}",
        seed=preset.seed + 7,
        max_new_tokens=preset.max_new_tokens,
        max_steps=preset.max_steps,
        prompt=preset.prompt,
        device=preset.grpo.device,
        dtype=preset.grpo.dtype,
    )
    return run_evaluation(cfg)


def grpo(
    preset: Preset, warm: Path, out: Path, overrides: dict[str, Any] | None = None
) -> tuple[Path, Path | None]:
    """GRPO from the warm start; returns the (model, adapter) pair to evaluate: the warm start and the
    trained LoRA, or the trained model and None when ``lora.full_finetune`` is set."""
    from gui_grpo.train.config import apply_overrides, config_from_dict
    from gui_grpo.train.trainer import Trainer

    cfg = dataclasses.replace(preset.grpo, model=str(warm), out=str(out))
    if overrides:  # an experiment's --set changes, checked as a config file's would be
        cfg = config_from_dict(apply_overrides(cfg.to_dict(), overrides))
    Trainer(cfg).train()
    final = out / "final"
    return (final, None) if cfg.lora.full_finetune else (warm, final)


def _row(label: str, summary: dict | None) -> str:
    if summary is None:
        return f"{label:<34} {'-':>8}"
    o = summary["overall"]
    lo, hi = o["success_ci95"]
    return f"{label:<34} {o['success_rate'] * 100:7.1f}%  [{lo * 100:5.1f}, {hi * 100:5.1f}]  n={o['scored']}"


def comparison_table(results: dict[str, dict | None]) -> str:
    lines = [f"{'held-out success (greedy)':<34} {'rate':>8}  95% Wilson interval"]
    for key, label in [
        ("before_test", "warm start, test-split params"),
        ("after_test", "GRPO, test-split params"),
        ("before_heldout", "warm start, held-out templates"),
        ("after_heldout", "GRPO, held-out templates"),
    ]:
        if key in results:
            lines.append(_row(label, results[key]))
    return "\n".join(lines)


def run_quickstart(preset: Preset, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole pipeline; return the before/after summaries. Writes everything under ``preset.out``."""
    out = Path(preset.out)
    out.mkdir(parents=True, exist_ok=True)
    log = _log_to(out / "quickstart.log", log)
    t0 = time.perf_counter()
    log(f"gui-grpo {preset.name}: suite {preset.suite!r}, run directory {out}")
    out = Path(absolute(out))  # every path saved in the job's files is absolute: they work from anywhere
    model = Path(absolute(ensure_model(preset, log)))
    warm = warm_start(preset, model, out, log)
    results: dict[str, dict | None] = {}
    evals = [("test", preset.eval_episodes), ("heldout", preset.heldout_episodes)]
    for split, n in evals:
        if n:
            results[f"before_{split}"] = evaluate(preset, warm, None, out / f"eval_warm_{split}", split, n)
    log(comparison_table(results))
    g = preset.grpo
    budget = f"{g.max_minutes:g} min or " if g.max_minutes else ""
    log(f"GRPO: {budget}{g.steps} steps of {g.rollout.groups_per_step} groups x {g.rollout.group_size}")
    trained, adapter = grpo(preset, warm, out / "grpo")
    for split, n in evals:
        if n:
            where = out / f"eval_grpo_{split}"
            results[f"after_{split}"] = evaluate(preset, trained, adapter, where, split, n)
    table = comparison_table(results)
    log(table)
    plot = _plot(out)
    minutes = (time.perf_counter() - t0) / 60
    log(f"done in {minutes:.1f} min; run directory {out.resolve()}" + (f"; curves {plot}" if plot else ""))
    summary = {
        "preset": dataclasses.asdict(preset),
        "minutes": round(minutes, 2),
        "code_version": code_version(),
        "table": table,
        **{k: v["overall"] for k, v in results.items() if v},
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _plot(out: Path) -> Path | None:
    """``curves.png``: the same curves as the job's report page (``gui-grpo report RUN``)."""
    from gui_grpo.eval.report.job import curve_data
    from gui_grpo.eval.report.plots import job_curves_png

    png = job_curves_png(*curve_data(out))
    if png is None:
        return None
    path = out / "curves.png"
    path.write_bytes(png)
    return path
