"""Training-ready oracle demonstrations: (prompt, target completion) pairs in the rollouts' step format.

Each task's oracle is played on a fresh PhoneSim; before every oracle action the screen is observed exactly
as ``gui_grpo.rollout.step`` observes it for the policy (resized screenshot, numbered elements, history of
earlier actions as the rollout writes it), the prompt is built by the model's ``PromptBuilder``, the target
is the oracle action written by ``format_action`` (an element index in the ``json`` format when the action
hits an element's centre) followed by the stop token. Only episodes the oracle solves are kept.

On disk, under DIR (written to a temp directory that is renamed into place)::

    manifest.json    suite, split, seeds, family, prompt config, counts, stop token, format version
    episodes.jsonl   one line per recorded episode: task, params, instruction, seed, score, steps
    steps.jsonl      one line per step: prompt text, image files, sizes, target text, parsed target action
    images/<sha>.png resized screenshots, deduplicated by content

``gui-grpo tasks demos`` writes model-agnostic demos (full screenshots and typed actions); these are tied
to one family's chat template and image size, which the manifest records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image

from emulators.device import GuiDevice
from emulators.elements import Element
from emulators.phonesim import SimDevice
from gui_grpo.policy.actions import format_action
from gui_grpo.policy.prompts import Prompt, PromptBuilder, PromptConfig
from gui_grpo.rollout.records import EpisodeResult, png_bytes
from gui_grpo.rollout.step import EpisodeState, history_line, observe
from tasks.base import Task
from tasks.runner import run_oracle
from tasks.suites import split_templates, template_seeds

FORMAT_VERSION = 1
STOP_TOKEN = "<|im_end|>"


class DemoError(Exception):
    """Demonstrations cannot be recorded or read; the message says how to fix it."""


@dataclass
class Demo:
    """One supervised step: the prompt the policy would see and the oracle's completion."""

    prompt_text: str
    images_png: list[bytes]
    screen_size: tuple[int, int]
    model_image_size: tuple[int, int]
    target_text: str
    """The action as the model writes it, followed by the stop token."""
    action: str
    """repr of the oracle action."""
    task: str
    instruction: str
    episode: int
    step: int
    elements: list[Element] | None = None
    """The numbered elements the prompt listed (``pixels+elements``), for reading index targets back."""

    def prompt(self) -> Prompt:
        """The prompt with its images decoded from the stored PNGs."""
        images = [Image.open(BytesIO(b)).convert("RGB") for b in self.images_png]
        return Prompt(
            self.prompt_text,
            images,
            self.screen_size,
            elements=self.elements,
            model_image_size=self.model_image_size,
        )

    @property
    def action_text(self) -> str:
        """The target without the stop token (what ``parse_action`` reads)."""
        return self.target_text.removesuffix(STOP_TOKEN)


@dataclass
class DemoSet:
    """Demonstrations read from a directory, with the manifest they were recorded under."""

    manifest: dict[str, Any]
    demos: list[Demo] = field(default_factory=list)

    @property
    def family(self) -> str:
        return str(self.manifest["family"])

    @property
    def prompt_config(self) -> PromptConfig:
        return PromptConfig(**self.manifest["prompt"])


def record_episode(
    task: Task, device: GuiDevice, builder: PromptBuilder, episode: int
) -> tuple[list[Demo], float]:
    """Play ``task``'s oracle on a fresh ``device``: one ``Demo`` per oracle action, and the score."""
    demos: list[Demo] = []
    states: list[EpisodeState] = []

    def on_step(index: int, action: object) -> None:
        if not states:  # after the setup, where a page writes its instruction
            record = EpisodeResult(task.name, dict(task.params), task.instruction, episode, 0, 0)
            states.append(EpisodeState(task.instruction, record, builder.family, builder.action_format))
        state = states[0]
        prompt = state.prompt(builder, observe(device, builder))  # what a rollout would show here
        builder.encode([prompt])  # sets model_image_size; checks the token budget
        text = format_action(
            action,  # type: ignore[arg-type]
            family=builder.family,
            image_size=prompt.model_image_size,
            screen_size=prompt.screen_size,
            action_format=builder.action_format,
            elements=prompt.elements,
        )
        state.history.append(history_line(text))
        demos.append(
            Demo(
                prompt_text=prompt.text,
                images_png=[png_bytes(im) for im in prompt.images],
                screen_size=prompt.screen_size,
                model_image_size=prompt.model_image_size,
                target_text=text + STOP_TOKEN,
                action=repr(action),
                task=task.task_id,
                instruction=task.instruction,
                episode=episode,
                step=index,
                elements=prompt.elements,
            )
        )

    outcome = run_oracle(task, device, on_step=on_step)
    return demos, outcome.score


def device_seed(template: str, seed: int) -> int:
    """The PhoneSim seed (domain randomisation) of one demonstration episode."""
    return random.Random(f"demo:{template}:{seed}").randrange(2**31)


def record_demos(
    builder: PromptBuilder,
    *,
    suite: str,
    split: str,
    seeds: int,
    first_seed: int = 0,
    resolution: str = "small",
    make_device: Callable[[int], GuiDevice] | None = None,
    templates: Collection[str] | None = None,
    device: GuiDevice | None = None,
) -> tuple[list[Demo], list[dict[str, Any]]]:
    """Oracle demos of ``seeds`` instances per template of ``suite``/``split`` (only ``templates`` when
    given); failed episodes are left out. Each episode gets a fresh device from ``make_device`` (a
    PhoneSim by default), or replays its setup on ``device`` (a web page), which is left open.

    Returns the demos and one summary per episode played (kept or not).
    """
    chosen = split_templates(suite, split)
    if templates is not None:
        names = {cls.name for cls in chosen}
        unknown = sorted(set(templates) - names)
        if unknown:
            raise DemoError(
                f"not a {suite}/{split} template: {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        chosen = [cls for cls in chosen if cls.name in templates]
    make_device = make_device or (lambda s: SimDevice(seed=s, resolution=resolution))
    demos: list[Demo] = []
    episodes: list[dict[str, Any]] = []
    for cls in chosen:
        for seed in template_seeds(split, seeds, start=first_seed):
            task = cls.sample(seed)
            played = device or make_device(device_seed(cls.name, seed))
            try:
                steps, score = record_episode(task, played, builder, len(episodes))
            finally:
                if played is not device:
                    played.close()
            kept = score >= 1.0
            if kept:
                demos += steps
            episodes.append(
                {
                    "episode": len(episodes),
                    "task": task.task_id,
                    "template": cls.name,
                    "params": task.params,
                    "instruction": task.instruction,
                    "seed": seed,
                    "score": score,
                    "steps": len(steps),
                    "kept": kept,
                }
            )
    return demos, episodes


def write_demos(out: str | Path, demos: list[Demo], episodes: list[dict[str, Any]], manifest: dict) -> Path:
    """Write demos under ``out`` atomically (a temp directory renamed into place); replaces ``out``."""
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "images").mkdir(parents=True)
    with open(tmp / "steps.jsonl", "w") as f:
        for d in demos:
            names = []
            for png in d.images_png:
                name = f"images/{hashlib.sha1(png).hexdigest()[:20]}.png"
                if not (tmp / name).exists():
                    (tmp / name).write_bytes(png)
                names.append(name)
            row = dataclasses.asdict(d)
            row.pop("images_png")
            f.write(json.dumps({**row, "images": names}) + "\n")
    with open(tmp / "episodes.jsonl", "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in episodes)
    manifest = {
        **manifest,
        "format_version": FORMAT_VERSION,
        "stop_token": STOP_TOKEN,
        "episodes": len(episodes),
        "kept_episodes": sum(e["kept"] for e in episodes),
        "steps": len(demos),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def build_manifest(
    builder: PromptBuilder, *, suite: str, split: str, seeds: int, model: str, **extra: Any
) -> dict:
    return {
        "suite": suite,
        "split": split,
        "seeds_per_template": seeds,
        "family": builder.family,
        "action_format": builder.action_format,
        "prompt": dataclasses.asdict(builder.cfg),
        "model": model,
        **extra,
    }


def load_demos(path: str | Path) -> DemoSet:
    """Read a directory written by ``write_demos``; raises ``DemoError`` naming what is wrong."""
    path = Path(path)
    manifest_file = path / "manifest.json"
    if not manifest_file.is_file():
        raise DemoError(
            f"{path} holds no demonstrations (no manifest.json): record them with "
            f"`gui-grpo demos --model MODEL --suite smoke --out {path}`"
        )
    try:
        manifest = json.loads(manifest_file.read_text())
    except json.JSONDecodeError as e:
        raise DemoError(f"{manifest_file} is not valid JSON ({e}): record the demos again") from e
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DemoError(
            f"{path} has demo format {manifest.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}: record the demos again"
        )
    demos = [_demo_from_row(path, json.loads(line)) for line in (path / "steps.jsonl").open() if line.strip()]
    if not demos:
        raise DemoError(f"{path} has no demonstration steps: record more seeds")
    return DemoSet(manifest, demos)


def _demo_from_row(root: Path, row: dict[str, Any]) -> Demo:
    images = row.pop("images")
    try:
        pngs = [(root / name).read_bytes() for name in images]
    except FileNotFoundError as e:
        raise DemoError(f"demo image {e.filename} is missing: record the demos again") from e
    row["screen_size"] = tuple(row["screen_size"])
    row["model_image_size"] = tuple(row["model_image_size"])
    if row.get("elements") is not None:
        row["elements"] = [Element(**{**e, "bounds": tuple(e["bounds"])}) for e in row["elements"]]
    return Demo(images_png=pngs, **row)
