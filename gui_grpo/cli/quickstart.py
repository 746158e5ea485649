"""The main job: warm start a tiny model on oracle demonstrations, then GRPO, on PhoneSim, on a CPU.

``gui-grpo train`` with no arguments runs the ``quickstart`` preset (protocol v2, docs/LEARNING.md):

1. build the tiny Qwen2.5-VL model if ``runs/tiny`` is absent (``gui-grpo init-model``);
2. record oracle demonstrations of the demonstrated templates D only (``demo_suite``, train split);
3. supervised warm start on them, full-parameter, until the loss stops improving or ``warm.max_minutes``;
4. evaluate the warm start greedily on test-split instances of D and the reward-only templates R, and on
   the held-out templates H;
5. GRPO from the warm start on D and R (train split; R has no demonstration, only its checker);
6. the control: supervised training continued on the same demonstrations for GRPO's wall-clock;
7. evaluate both on the same instances, print the table (D, R, D and R, H; Wilson 95% intervals), plot the
   curves, and say where the run is.

Budgets are fixed in the preset, not tuned per run. ``--preset smoke`` runs the same pipeline in seconds;
``--preset quickstart-v1`` is the earlier protocol (demonstrations of every trained template).
``--preset miniwob`` is the same job on MiniWoB++ pages (``web:16``; docs/WEB.md), ``miniwob-smoke`` its
seconds-long version.
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

from gui_grpo.eval.report.job import PHASES, curve_data
from gui_grpo.grpo.config import RewardConfig
from gui_grpo.policy.model import AdapterConfig
from gui_grpo.policy.prompts import PromptConfig
from gui_grpo.policy.usage import absolute, code_version
from gui_grpo.train.config import LossSection, OptimConfig, RolloutConfig, TrainConfig
from gui_grpo.train.sft import SftConfig

QUICKSTART_PROMPT = PromptConfig(observation="pixels+elements", action_format="json", max_pixels=40_000)


QUICKSTART_V1_GRPO = TrainConfig(
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
"""The GRPO phase of protocol v1 (``quickstart-v1``): ``TrainConfig``'s defaults with these changes."""

QUICKSTART_GRPO = dataclasses.replace(
    QUICKSTART_V1_GRPO,
    suite="quickstart",
    steps=400,
    max_minutes=8.5,
    # Chosen on the validation split (docs/LEARNING.md): grammar-constrained sampling at 1.5, a curriculum
    # floor, success replay from a pool of instances, page-progress shaping, and no learning from groups
    # whose spread is penalties alone.
    rollout=RolloutConfig(
        groups_per_step=6, group_size=8, max_new_tokens=80, max_steps=8, curriculum=True,
        curriculum_floor=0.1, constrained=True, temperature=1.5, instance_pool=32, replay_successes=True,
    ),
    reward=RewardConfig(progress_shaping=True, progress_coef=0.3),
    loss=LossSection(preset="grpo", overrides={"drop_failed_groups": True}),
)
"""The GRPO phase of the main job (protocol v2): D and R of the ``quickstart`` suite."""

MINIWOB_GRPO = dataclasses.replace(
    QUICKSTART_GRPO,
    suite="miniwob-easy",
    max_minutes=7.0,
    # The main job's rollout settings on 16 web pages: 4 groups of 4 per step (a group's pages replay
    # the seeded setup); no progress shaping (MiniWoB pages define no potential).
    rollout=dataclasses.replace(QUICKSTART_GRPO.rollout, devices="web:16", groups_per_step=4, group_size=4),
    reward=RewardConfig(),
)
"""The GRPO phase of the ``miniwob`` preset (docs/WEB.md): the 20 templates of ``miniwob-easy``."""


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
    demo_suite: str | None = None
    """The templates with demonstrations (their train split); None: the GRPO suite's train split."""
    demo_seeds: int = 20
    """Oracle episodes per demonstrated template for the warm start."""
    control: bool = False
    """Also continue supervised training on the demonstrations for GRPO's wall-clock, and evaluate it."""
    eval_split: str = "test"
    """Where the before/after table is measured: ``test`` for results, ``validation`` for development."""
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

    @property
    def on_web(self) -> bool:
        """Whether the job plays on web pages (its GRPO devices are ``web:N``) instead of PhoneSims."""
        return self.grpo.rollout.devices.startswith("web:")

    def with_options(
        self,
        *,
        out: str | None = None,
        seed: int | None = None,
        progress_bar: bool | None = None,
        eval_split: str | None = None,
    ) -> Preset:
        """This job with another run directory, seed, progress display or evaluation split (all a preset
        takes)."""
        grpo = self.grpo
        if seed is not None:
            grpo = dataclasses.replace(grpo, seed=seed)
        if progress_bar is not None:
            grpo = dataclasses.replace(grpo, progress_bar=progress_bar)
        return dataclasses.replace(
            self,
            grpo=grpo,
            out=self.out if out is None else out,
            eval_split=self.eval_split if eval_split is None else eval_split,
        )


PRESETS: dict[str, Preset] = {
    "quickstart": Preset(
        "quickstart",
        warm=warm_start_config(epochs=40, max_minutes=6.0),
        demo_suite="quickstart-demos",
        control=True,
        eval_episodes=14 * 29,  # D and R: 14 templates, 29 episodes each
        heldout_episodes=3 * 30,
    ),
    "miniwob": Preset(
        "miniwob",
        grpo=copy.deepcopy(MINIWOB_GRPO),
        warm=warm_start_config(epochs=40, max_minutes=4.0),
        out="runs/miniwob",
        demo_suite="miniwob-demos",
        demo_seeds=10,
        control=True,
        eval_episodes=20 * 15,  # D and R: 20 templates, 15 episodes each
        heldout_episodes=0,
        eval_batch=16,
    ),
    "miniwob-smoke": Preset(
        "miniwob-smoke",
        grpo=dataclasses.replace(MINIWOB_GRPO, steps=1, rollout=dataclasses.replace(
            MINIWOB_GRPO.rollout, devices="web:2", groups_per_step=1, group_size=2, max_steps=3)),
        warm=warm_start_config(epochs=2, max_minutes=0.5),
        out="runs/miniwob-smoke",
        demo_suite="miniwob-demos",
        demo_seeds=1,
        control=True,
        eval_episodes=4, heldout_episodes=0, eval_batch=4,
    ),
    "quickstart-v1": Preset(
        "quickstart-v1", grpo=copy.deepcopy(QUICKSTART_V1_GRPO), out="runs/quickstart-v1"
    ),
    "smoke": Preset(
        "smoke",
        grpo=dataclasses.replace(
            QUICKSTART_GRPO,
            suite="smoke",
            steps=1,
            # the quickstart's rollout settings (sampling, grammar, replay), on a smaller batch
            rollout=dataclasses.replace(
                QUICKSTART_GRPO.rollout, groups_per_step=1, group_size=2, max_steps=4
            ),
        ),
        warm=warm_start_config(epochs=3, max_minutes=0.5),
        control=True,
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
    from gui_grpo.rollout.devices import open_devices
    from gui_grpo.train.demos import build_manifest, load_demos, record_demos, write_demos
    from gui_grpo.train.sft import run_sft

    _, processor, family = load_policy(model, device="cpu", dtype="float32")
    builder = PromptBuilder(processor, family, preset.prompt)
    t0 = time.perf_counter()
    suite = preset.demo_suite or preset.suite
    page = open_devices("web:1")[0] if preset.on_web else None
    try:
        demos, episodes = record_demos(
            builder, suite=suite, split="train", seeds=preset.demo_seeds, device=page
        )
    finally:
        if page is not None:
            page.close()
    manifest = build_manifest(builder, suite=suite, split="train", seeds=preset.demo_seeds, model=str(model))
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


def control(preset: Preset, warm: Path, out: Path, minutes: float, log: Callable[[str], None]) -> Path:
    """The control: supervised training continued from the warm start on the same demonstrations, for
    ``minutes`` (GRPO's wall-clock), with no early stop; returns the trained checkpoint."""
    from gui_grpo.train.demos import load_demos
    from gui_grpo.train.sft import run_sft

    cfg = dataclasses.replace(
        preset.warm,
        model=str(warm),
        out=str(out / "control"),
        seed=preset.seed + 1,
        max_new_tokens=preset.max_new_tokens,
        epochs=10_000,
        patience=0,
        max_minutes=max(minutes, 0.05),
    )
    log(f"control: supervised training on the same demonstrations for {minutes:.1f} min (GRPO's wall-clock)")
    result = run_sft(cfg, load_demos(out / "demos"), log=log)
    last = result.epochs[-1]["loss"] if result.epochs else float("nan")
    log(f"control: {len(result.epochs)} more epochs in {result.seconds:.0f} s, last loss {last:.4f}")
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
        devices=f"{'web' if preset.on_web else 'sim'}:{min(n, preset.eval_batch)}",
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


def template_groups(preset: Preset) -> dict[str, frozenset[str]]:
    """The rows of the table: demonstrated (D), reward-only (R) and both, for a preset with its own
    demonstration suite; one row (the whole split) otherwise."""
    from tasks.suites import split_templates

    trained = frozenset(t.name for t in split_templates(preset.suite, "train"))
    if not preset.demo_suite:
        return {"all": trained}
    demos = frozenset(t.name for t in split_templates(preset.demo_suite, "train"))
    return {"D": trained & demos, "R": trained - demos, "D+R": trained}


def group_rates(summary: dict, names: frozenset[str]) -> dict[str, Any]:
    """Success of the templates ``names`` in an evaluation summary, with its Wilson 95% interval."""
    from gui_grpo.eval.evaluate import wilson_interval

    rows = [v for k, v in summary["by_template"].items() if k in names]
    n = sum(r["scored"] for r in rows)
    k = sum(r["successes"] for r in rows)
    lo, hi = wilson_interval(k, n)
    return {"scored": n, "successes": k, "success_rate": k / n if n else None, "success_ci95": [lo, hi]}


def _cell(r: dict | None) -> str:
    if not r or r["success_rate"] is None:
        return f"{'-':>22}"
    lo, hi = r["success_ci95"]
    return f"{r['success_rate'] * 100:5.1f}% [{lo * 100:4.1f}, {hi * 100:5.1f}]"


def comparison_table(
    results: dict[str, dict | None], groups: dict[str, frozenset[str]], split: str
) -> str:
    """Greedy success per phase (rows) and template group (columns), with Wilson 95% intervals."""
    columns = [(g, f"{split}: {g}") for g in groups] + [("H", "held-out templates H")]
    lines = [f"{'greedy success':<20}" + "".join(f" {label:>24}" for _, label in columns)]
    for phase, label in PHASES:
        cells = []
        for g, _ in columns:
            summary = results.get(f"{phase}_heldout" if g == "H" else f"{phase}_{split}")
            if summary:
                summary = summary["overall"] if g == "H" else group_rates(summary, groups[g])
            cells.append(_cell(summary))
        if any(c.strip() != "-" for c in cells):
            lines.append(f"{label:<20}" + "".join(f" {c:>24}" for c in cells))
    first = results.get(f"before_{split}")
    if first:
        counts = ", ".join(f"{g} {group_rates(first, names)['scored']}" for g, names in groups.items())
        lines.append(f"episodes: {counts}")
    return "\n".join(lines)


def _evaluate_all(
    preset: Preset, phase: str, model: Path, adapter: Path | None, out: Path, results: dict[str, dict | None]
) -> None:
    """Greedy evaluation of one phase's model on the evaluation split and the held-out templates."""
    for split, n in ((preset.eval_split, preset.eval_episodes), ("heldout", preset.heldout_episodes)):
        if n:
            name = {"before": "warm", "after": "grpo"}.get(phase, phase)
            where = out / f"eval_{name}_{split}"
            results[f"{phase}_{split}"] = evaluate(preset, model, adapter, where, split, n)


def run_quickstart(preset: Preset, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole pipeline; return the summaries. Writes everything under ``preset.out``."""
    out = Path(preset.out)
    out.mkdir(parents=True, exist_ok=True)
    log = _log_to(out / "quickstart.log", log)
    t0 = time.perf_counter()
    log(f"gui-grpo {preset.name}: suite {preset.suite!r}, evaluated on the {preset.eval_split} split, "
        f"run directory {out}")
    out = Path(absolute(out))  # every path saved in the job's files is absolute: they work from anywhere
    model = Path(absolute(ensure_model(preset, log)))
    warm = warm_start(preset, model, out, log)
    groups = template_groups(preset)
    results: dict[str, dict | None] = {}
    _evaluate_all(preset, "before", warm, None, out, results)
    log(comparison_table(results, groups, preset.eval_split))
    g = preset.grpo
    budget = f"{g.max_minutes:g} min or " if g.max_minutes else ""
    log(f"GRPO: {budget}{g.steps} steps of {g.rollout.groups_per_step} groups x {g.rollout.group_size}")
    t_grpo = time.perf_counter()
    trained, adapter = grpo(preset, warm, out / "grpo")
    grpo_minutes = (time.perf_counter() - t_grpo) / 60
    if preset.control:
        _evaluate_all(preset, "control", control(preset, warm, out, grpo_minutes, log), None, out, results)
    _evaluate_all(preset, "after", trained, adapter, out, results)
    table = comparison_table(results, groups, preset.eval_split)
    log(table)
    metrics, warm_epochs = curve_data(out)
    plot = _plot(out, metrics, warm_epochs)
    _protocol_plot(out, metrics, preset, results, groups, grpo_minutes)
    minutes = (time.perf_counter() - t0) / 60
    log(f"done in {minutes:.1f} min; run directory {out.resolve()}" + (f"; curves {plot}" if plot else ""))
    summary = {
        "preset": dataclasses.asdict(preset),
        "minutes": round(minutes, 2),
        "grpo_minutes": round(grpo_minutes, 2),
        "code_version": code_version(),
        "table": table,
        "groups": {
            key: {name: group_rates(v, names) for name, names in groups.items()}
            for key, v in results.items() if v and not key.endswith("_heldout")
        },
        **{k: v["overall"] for k, v in results.items() if v},
    }
    (out / "quickstart.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _protocol_plot(
    out: Path,
    metrics: list[dict[str, Any]],
    preset: Preset,
    results: dict[str, dict | None],
    groups: dict[str, frozenset[str]],
    minutes: float,
) -> None:
    """``protocol.png``: GRPO's curves against minutes and the final success on the evaluation split of
    the warm start (at 0), the control and GRPO (at their common wall-clock, drawn side by side)."""
    from gui_grpo.eval.report.plots import protocol_png

    group = "D+R" if "D+R" in groups else next(iter(groups))
    points = []
    for phase, label, at in (("before", "warm start", 0.0), ("control", "control (more SFT)", minutes - 0.2),
                             ("after", "GRPO", minutes + 0.2)):
        summary = results.get(f"{phase}_{preset.eval_split}")
        if summary:
            points.append((f"{label}, {preset.eval_split} {group}", at, group_rates(summary, groups[group])))
    png = protocol_png(metrics, points, f"greedy success ({preset.eval_split} split, {group})")
    if png is not None:
        (out / "protocol.png").write_bytes(png)


def _plot(out: Path, metrics: list[dict[str, Any]], warm_epochs: list[dict[str, Any]]) -> Path | None:
    """``curves.png``: the same curves as the job's report page (``gui-grpo report RUN``)."""
    from gui_grpo.eval.report.plots import job_curves_png

    png = job_curves_png(metrics, warm_epochs)
    if png is None:
        return None
    path = out / "curves.png"
    path.write_bytes(png)
    return path
