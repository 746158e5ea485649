"""Offline step-level GRPO on an AndroidControl-style JSONL dataset (format: docs/OFFLINE_FORMAT.md).

Each record is one decision: a screenshot, the instruction, the history of earlier actions and the
ground-truth action with its target bounds. For a record the policy samples G answers to the record's
prompt; each is rewarded against the ground truth (``action_reward``) and made a one-step episode, so
group advantages, samples and metrics are the online ones (``samples.make_samples``,
``metrics.episode_metrics``), and so is the update (``Trainer.update``). ``export_oracle_records`` writes
PhoneSim oracle demonstrations in this format.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from emulators.actions import Answer, Key, LongPress, OpenApp, Swipe, Tap, Terminate, Type, Wait
from emulators.elements import Element
from gui_grpo.policy.actions import Invalid, format_action
from gui_grpo.rollout.records import EpisodeResult, Step, png_bytes
from gui_grpo.rollout.step import episode_seed, make_step, read_action
from gui_grpo.train.metrics import episode_metrics
from gui_grpo.train.samples import Sample, make_samples

ACTION_TYPES = ("click", "long_press", "swipe", "type", "key", "open", "wait", "terminate", "answer")
POINT_TYPES = ("click", "long_press")
TEXT_TYPES = ("type", "open", "answer")
# Reward parts; they sum to 1 for an exact match.
FORMAT_REWARD, TYPE_REWARD, ARGUMENT_REWARD = 0.1, 0.3, 0.6
_KIND = {
    Tap: "click",
    LongPress: "long_press",
    Swipe: "swipe",
    Type: "type",
    Key: "key",
    OpenApp: "open",
    Wait: "wait",
    Terminate: "terminate",
    Answer: "answer",
}


class OfflineFormatError(ValueError):
    """A dataset line does not follow docs/OFFLINE_FORMAT.md; the message names the line and field."""


@dataclass
class GroundTruth:
    """The expected action. Fields beyond ``type`` are those its type needs."""

    type: str
    bounds: tuple[int, int, int, int] | None = None
    """click / long_press: the target's box in screenshot pixels (x1, y1, x2, y2); a point inside hits."""
    point: tuple[int, int] | None = None
    """click / long_press: the point the demonstrator touched (informative; ``bounds`` decides)."""
    index: int | None = None
    """click / long_press: the target element's index, when the target is a listed element."""
    direction: str | None = None
    """swipe: ``up``, ``down``, ``left`` or ``right`` (the finger's motion)."""
    text: str | None = None
    """type / open / answer: the text; key: the key name (``BACK``, ``HOME``...); terminate: the status."""


@dataclass
class OfflineRecord:
    id: str
    screenshot: Path
    instruction: str
    action: GroundTruth
    history: list[str] = field(default_factory=list)
    elements: list[Element] | None = None


def load_records(path: str | Path) -> list[OfflineRecord]:
    """Read and check a dataset; image paths are relative to the JSONL file's directory."""
    path = Path(path)
    if not path.is_file():
        raise OfflineFormatError(
            f"offline dataset {path} does not exist (export one with `gui-grpo offline-data`)"
        )
    records = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(_record(json.loads(line), path.parent))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise OfflineFormatError(f"{path}:{n}: {e} (see docs/OFFLINE_FORMAT.md)") from e
    if not records:
        raise OfflineFormatError(f"{path} has no records")
    return records


def _record(row: dict[str, Any], root: Path) -> OfflineRecord:
    act = dict(row["action"])
    if act.get("type") not in ACTION_TYPES:
        raise ValueError(f"action type {act.get('type')!r} is not one of {', '.join(ACTION_TYPES)}")
    for key in ("bounds", "point"):
        if act.get(key) is not None:
            act[key] = tuple(int(v) for v in act[key])
    truth = GroundTruth(**act)
    if truth.type in POINT_TYPES and truth.bounds is None:
        raise ValueError(f"a {truth.type} needs action.bounds [x1, y1, x2, y2]")
    if truth.type in (*TEXT_TYPES, "key", "terminate") and not truth.text:
        raise ValueError(f"a {truth.type} needs action.text")
    if truth.type == "swipe" and truth.direction not in ("up", "down", "left", "right"):
        raise ValueError("a swipe needs action.direction: up, down, left or right")
    elements = None
    if row.get("elements") is not None:
        elements = [Element(**{**e, "bounds": tuple(e["bounds"])}) for e in row["elements"]]
    shot = Path(row["screenshot"])
    return OfflineRecord(
        id=str(row["id"]),
        screenshot=shot if shot.is_absolute() else root / shot,
        instruction=str(row["instruction"]),
        action=truth,
        history=[str(h) for h in row.get("history", [])],
        elements=elements,
    )


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def swipe_direction(action: Swipe) -> str:
    dx, dy = action.x2 - action.x1, action.y2 - action.y1
    if abs(dx) > abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def arguments_match(pred: object, truth: GroundTruth) -> bool:
    """Whether a parsed action of the right type hits the ground truth's target or text."""
    if isinstance(pred, Tap | LongPress):
        x1, y1, x2, y2 = truth.bounds  # type: ignore[misc]
        return x1 <= pred.x <= x2 and y1 <= pred.y <= y2
    if isinstance(pred, Swipe):
        return swipe_direction(pred) == truth.direction
    if isinstance(pred, Type | Answer):
        return _norm(pred.text) == _norm(truth.text or "")
    if isinstance(pred, OpenApp):
        return _norm(pred.app) == _norm(truth.text or "")
    if isinstance(pred, Key):
        return pred.key == Key(truth.text or "").key
    if isinstance(pred, Terminate):
        return pred.status == truth.text
    return True  # wait


def action_reward(pred: object, truth: GroundTruth) -> float:
    """0 for an invalid output; else 0.1 (format) + 0.3 (action type) + 0.6 (target / text) as each holds."""
    if isinstance(pred, Invalid):
        return 0.0
    if _KIND.get(type(pred)) != truth.type:
        return FORMAT_REWARD
    return FORMAT_REWARD + TYPE_REWARD + (ARGUMENT_REWARD if arguments_match(pred, truth) else 0.0)


def answer_episode(
    record: OfflineRecord, group: int, member: int, step: Step, reward: float, parsed: object
) -> EpisodeResult:
    """One sampled answer to ``record`` as a one-step episode scored ``reward``; only ``terminate`` with
    status success claims success (so ``false_completion_rate`` counts those the ground truth denies)."""
    return EpisodeResult(
        record.id,
        {},
        record.instruction,
        0,
        group,
        member,
        steps=[step],
        claimed_status=parsed.status if isinstance(parsed, Terminate) else None,
        score=reward,
        invalid_actions=int(not step.valid),
    )


class OfflineSource:
    """Batches of G sampled answers per dataset record, scored against the ground truth."""

    def __init__(self, path: str | Path, policy: Any, cfg: Any) -> None:
        self.records = load_records(path)
        self.eval_records = load_records(cfg.offline_eval) if cfg.offline_eval else []
        self.policy, self.cfg = policy, cfg
        self.with_elements = policy.builder.cfg.observation == "pixels+elements"

    def record_at(self, position: int) -> OfflineRecord:
        """The record at ``position`` of an endless sequence of seeded shuffles of the dataset."""
        epoch, i = divmod(position, len(self.records))
        order = list(range(len(self.records)))
        random.Random(f"{self.cfg.seed}:offline:{epoch}").shuffle(order)
        return self.records[order[i]]

    def prompt(self, record: OfflineRecord) -> Any:
        screen = Image.open(record.screenshot).convert("RGB")
        resized = self.policy.builder.resize(screen)
        elements = record.elements if self.with_elements else None
        return self.policy.builder.build(record.instruction, [resized], record.history, screen.size, elements)

    def play(
        self, records: list[OfflineRecord], step: int, size: int, greedy: bool, first_group: int = 0
    ) -> list[tuple[Step, float, object]]:
        """``size`` answers to each record's prompt: (step, reward, parsed action), record-major. Record i
        is group ``first_group + i`` of the step's batch (its sampling seeds)."""
        unique = [self.prompt(record) for record in records]
        groups = range(first_group, first_group + len(records))
        seeds = [episode_seed(self.cfg.seed, step, g, m, 0) for g in groups for m in range(size)]
        batch = self.policy.builder.encode(unique)  # also sets each prompt's model_image_size
        # Each prompt is prefilled once and its ``size`` samples decoded from copies of its cache.
        counts = [size] * len(unique)
        comps = self.policy.engine.sample_encoded(batch, counts, None if greedy else seeds, greedy)
        prompts = [p for p in unique for _ in range(size)]
        out = []
        for i, (prompt, comp) in enumerate(zip(prompts, comps, strict=True)):
            parsed = read_action(comp.text, prompt, self.policy.family, self.policy.builder.action_format)
            step_ = make_step(prompt, comp, parsed)
            out.append((step_, action_reward(parsed, records[i // size].action), parsed))
        return out

    def batch(self, step: int, share: range | None = None) -> tuple[list[Sample], dict[str, float]]:
        """Samples (with group advantages) and rollout metrics for training step ``step``: all of its
        ``groups_per_step`` records, or the contiguous ``share`` of them (a data-parallel rank's part)."""
        size = self.cfg.rollout.group_size
        share = range(self.cfg.rollout.groups_per_step) if share is None else share
        if not share:
            return [], {}
        records = [self.record_at(step * self.cfg.rollout.groups_per_step + i) for i in share]
        played = self.play(records, step, size, greedy=False, first_group=share.start)
        answers = [
            answer_episode(records[k // size], share.start + k // size, k % size, s, reward, parsed)
            for k, (s, reward, parsed) in enumerate(played)
        ]
        rewards = [reward for _, reward, _ in played]
        # An answer is a one-step episode scored against the ground truth (an invalid one 0, the lowest
        # reward); its advantage is not capped as an invalid step inside an online episode's is.
        reward_cfg = replace(self.cfg.reward, invalid_step_advantage=None)
        samples, stats = make_samples(answers, rewards, self.cfg.loss_config(), reward_cfg)
        return samples, {**episode_metrics(answers, rewards), **stats}

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Greedy exact-match rate on the ``offline_eval`` records (nothing without them)."""
        if not self.eval_records:
            return {}
        records = self.eval_records[: self.cfg.eval_instances or len(self.eval_records)]
        played = self.play(records, 0, 1, greedy=True)
        return {
            "eval_success_rate": sum(r >= 1.0 for _, r, _ in played) / len(played),
            "eval_reward_mean": sum(r for _, r, _ in played) / len(played),
        }


# -- export from PhoneSim oracle demonstrations -----------------------------------------------------------


def ground_truth(action: object, elements: list[Element], screen_size: tuple[int, int]) -> GroundTruth:
    """The dataset's ground truth for an oracle action on a screen with ``elements``."""
    kind = _KIND[type(action)]
    if isinstance(action, Tap | LongPress):
        hits = [
            e
            for e in elements
            if e.bounds[0] <= action.x <= e.bounds[2] and e.bounds[1] <= action.y <= e.bounds[3]
        ]
        if hits:  # the smallest element under the finger is the target
            target = min(hits, key=lambda e: (e.bounds[2] - e.bounds[0]) * (e.bounds[3] - e.bounds[1]))
            return GroundTruth(kind, bounds=target.bounds, point=(action.x, action.y), index=target.index)
        r = max(8, screen_size[0] // 40)
        w, h = screen_size
        box = (max(0, action.x - r), max(0, action.y - r), min(w - 1, action.x + r), min(h - 1, action.y + r))
        return GroundTruth(kind, bounds=box, point=(action.x, action.y))
    if isinstance(action, Swipe):
        return GroundTruth(kind, direction=swipe_direction(action))
    text = {Type: "text", Answer: "text", OpenApp: "app", Key: "key", Terminate: "status"}.get(type(action))
    return GroundTruth(kind, text=getattr(action, text) if text else None)


def history_text(action: object, elements: list[Element], screen_size: tuple[int, int]) -> str:
    """A model-agnostic history line: the action in the ``json`` format (device pixels, or an index)."""
    return format_action(
        action,
        family="qwen2_5_vl",
        image_size=screen_size,
        screen_size=screen_size,  # type: ignore[arg-type]
        action_format="json",
        elements=elements,
    )


def export_oracle_records(
    out: str | Path, *, suite: str, split: str, seeds: int, resolution: str = "small", first_seed: int = 0
) -> tuple[Path, dict[str, int]]:
    """Play every template of ``suite``/``split`` with its oracle on PhoneSim, ``seeds`` instances each, and
    write one record per oracle action of each solved episode to ``out/data.jsonl``, images in ``out/images``.
    """
    from emulators.phonesim import SimDevice
    from tasks.runner import run_oracle
    from tasks.suites import split_templates, template_seeds

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    counts = {"episodes": 0, "solved": 0}
    for cls in split_templates(suite, split):
        for seed in template_seeds(split, seeds, start=first_seed):
            task = cls.sample(seed)
            device = SimDevice(
                seed=random.Random(f"offline:{cls.name}:{seed}").randrange(2**31), resolution=resolution
            )
            episode: list[dict[str, Any]] = []
            history: list[str] = []

            def on_step(
                index: int, action: object, task=task, device=device, episode=episode, history=history
            ) -> None:
                shot = device.screenshot()
                elements = device.elements()
                png = png_bytes(shot)
                name = f"images/{hashlib.sha1(png).hexdigest()[:20]}.png"
                if not (out / name).exists():
                    (out / name).write_bytes(png)
                truth = ground_truth(action, elements, shot.size)
                episode.append(
                    {
                        "id": f"{task.task_id}/{index}",
                        "screenshot": name,
                        "instruction": task.instruction,
                        "history": list(history),
                        "elements": [asdict(e) for e in elements],
                        "action": {k: v for k, v in asdict(truth).items() if v is not None},
                    }
                )
                history.append(history_text(action, elements, shot.size))

            try:
                outcome = run_oracle(task, device, on_step=on_step)
            finally:
                device.close()
            counts["episodes"] += 1
            if outcome.success:
                counts["solved"] += 1
                rows += episode
    data = out / "data.jsonl"
    tmp = data.with_name(".data.jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(data)
    counts["records"] = len(rows)
    return data, counts
