"""Group rollouts: play G episodes of each task from one start state, all live episodes batched together.

Flow per turn: every live episode observes its device (screenshot, and elements when the prompt shows
them) → one prompt each → one batched ``generate`` → parse → execute on each device. Episode-control
actions (``terminate``, ``answer``) end an episode without touching the device; invalid outputs count as
a step and are recorded. When an episode ends its task checker scores it.

Sampling is seeded per (run seed, step, group, member, turn), so an episode's actions do not depend on
how episodes were batched.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image

from emulators.actions import Answer, Terminate
from emulators.device import Device
from emulators.errors import DeviceError
from gui_grpo.actions import Invalid, parse_action
from gui_grpo.engine import Completion, HFEngine
from gui_grpo.prompts import Prompt, PromptBuilder
from tasks.base import Episode, Task


def episode_seed(*parts: int | str) -> int:
    """A 63-bit seed from the parts that identify one sampling decision."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@dataclass
class Step:
    """One policy decision: what the model saw (prompt text, resized PNGs) and what it wrote."""

    prompt_text: str
    images_png: list[bytes]
    screen_size: tuple[int, int]
    model_image_size: tuple[int, int]
    completion_ids: list[int]
    logprobs: list[float]
    output_text: str
    action: str  # repr of the parsed action, or "Invalid(...)"
    valid: bool


@dataclass
class EpisodeResult:
    task: str
    params: dict[str, Any]
    instruction: str
    seed: int
    group: int
    member: int
    steps: list[Step] = field(default_factory=list)
    answer: str | None = None
    claimed_status: str | None = None
    score: float = 0.0
    invalid_actions: int = 0
    progress_start: float = 0.0
    progress_end: float = 0.0
    side_effects: list[str] = field(default_factory=list)
    lost: str | None = None  # the device error that ended the episode, if any
    truncated: bool = False

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary without the per-step payloads."""
        d = asdict(self)
        d.pop("steps")
        d["num_steps"] = len(self.steps)
        d["actions"] = [s.action for s in self.steps]
        return d


@dataclass
class _Live:
    task: Task
    device: Device
    initial_state: dict[str, Any]
    result: EpisodeResult
    screens: list[Image.Image] = field(default_factory=list)  # resized, oldest first
    history: list[str] = field(default_factory=list)
    done: bool = False


class Policy:
    """The pieces that turn observations into sampled actions."""

    def __init__(self, builder: PromptBuilder, engine: HFEngine) -> None:
        self.builder = builder
        self.engine = engine
        self.family = builder.family

    def sample(
        self, prompts: list[Prompt], seeds: list[int], greedy: bool, max_batch: int
    ) -> list[Completion]:
        out: list[Completion] = []
        for i in range(0, len(prompts), max_batch):
            chunk = prompts[i : i + max_batch]
            batch = self.builder.encode(chunk)
            out += self.engine.generate(batch, seeds=seeds[i : i + max_batch], greedy=greedy)
        return out


@dataclass
class GroupSpec:
    """One task instance to play ``size`` times, and where."""

    task: Task
    seed: int
    group: int
    devices: list[Device]  # already in the start state
    initial_state: dict[str, Any]


def start_group(task: Task, seed: int, group: int, size: int, make_device: Callable[[], Device]) -> GroupSpec:
    """Set up one device and fork it; devices that cannot fork each replay the setup."""
    base = make_device()
    initial = task.setup(base)
    if base.can_fork:
        devices = base.fork(size)
        base.close()
    else:
        devices = [base] + [make_device() for _ in range(size - 1)]
        for d in devices[1:]:
            task.setup(d)
    return GroupSpec(task, seed, group, devices, initial)


def _observe(live: _Live, builder: PromptBuilder, with_elements: bool) -> Prompt:
    screen = live.device.screenshot()
    live.screens.append(builder.resize(screen))
    del live.screens[: -builder.cfg.screenshots]
    elements = live.device.elements() if with_elements else None
    return builder.build(live.task.instruction, live.screens, live.history, screen.size, elements)


def _record(live: _Live, prompt: Prompt, comp: Completion, parsed: object) -> None:
    valid = not isinstance(parsed, Invalid)
    live.result.steps.append(
        Step(
            prompt_text=prompt.text,
            images_png=[png_bytes(im) for im in prompt.images],
            screen_size=prompt.screen_size,
            model_image_size=prompt.model_image_size,
            completion_ids=comp.token_ids,
            logprobs=comp.logprobs,
            output_text=comp.text,
            action=repr(parsed) if valid else f"Invalid({parsed.reason!r})",
            valid=valid,
        )
    )
    if not valid:
        live.result.invalid_actions += 1
        live.history.append(f"(invalid output: {parsed.reason})")
    else:
        live.history.append(_history_line(comp.text))


def _history_line(text: str) -> str:
    body = text.split("<tool_call>")[-1].split("</tool_call>")[0].strip()
    try:
        body = json.dumps(json.loads(body).get("arguments", json.loads(body)), separators=(", ", ": "))
    except (ValueError, AttributeError):
        pass
    return body[:200]


def _act(live: _Live, parsed: object, max_steps: int) -> None:
    if isinstance(parsed, Terminate):
        live.result.claimed_status = parsed.status
        live.done = True
    elif isinstance(parsed, Answer):
        live.result.answer = parsed.text
        live.done = True
    elif not isinstance(parsed, Invalid):
        try:
            live.device.execute(parsed)
        except DeviceError as e:
            live.result.lost = f"{type(e).__name__}: {e}"
            live.done = True
    if not live.done and len(live.result.steps) >= max_steps:
        live.result.truncated = True
        live.done = True


def _score(live: _Live) -> None:
    r = live.result
    episode = Episode(
        live.initial_state, answer=r.answer, claimed_status=r.claimed_status, steps=len(r.steps)
    )
    if r.lost is not None:
        return  # a lost device cannot be checked; the episode counts as lost, not as a failure
    r.score = float(live.task.check(live.device, episode))
    r.progress_end = float(live.task.progress(live.device))
    r.side_effects = list(live.task.side_effects(live.device, episode))


def play_groups(
    policy: Policy,
    groups: list[GroupSpec],
    *,
    run_seed: int,
    step: int,
    greedy: bool = False,
    max_steps: int | None = None,
    max_batch: int = 16,
    threads: int = 0,
) -> list[EpisodeResult]:
    """Play every member of every group to the end; return one result per episode, group-major."""
    lives: list[_Live] = []
    for g in groups:
        progress0 = float(g.task.progress(g.devices[0]))
        for m, device in enumerate(g.devices):
            res = EpisodeResult(
                g.task.name,
                dict(g.task.params),
                g.task.instruction,
                g.seed,
                g.group,
                m,
                progress_start=progress0,
            )
            lives.append(_Live(g.task, device, g.initial_state, res))
    with_elements = policy.builder.cfg.observation == "pixels+elements"
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    turn = 0
    while live := [x for x in lives if not x.done]:
        observe = lambda x: _observe(x, policy.builder, with_elements)  # noqa: E731
        prompts = list(pool.map(observe, live)) if pool else [observe(x) for x in live]
        seeds = [episode_seed(run_seed, step, x.result.group, x.result.member, turn) for x in live]
        completions = policy.sample(prompts, seeds, greedy, max_batch)
        for x, prompt, comp in zip(live, prompts, completions, strict=True):
            parsed = parse_action(
                comp.text,
                family=policy.family,
                image_size=prompt.model_image_size,
                screen_size=prompt.screen_size,
                elements=prompt.elements,
                action_format=policy.builder.action_format,
            )
            _record(x, prompt, comp, parsed)
            _act(x, parsed, max_steps or x.task.max_steps)
        turn += 1
    for x in lives:
        _score(x)
    if pool:
        pool.shutdown()
    return [x.result for x in lives]
