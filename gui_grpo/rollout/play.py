"""Group rollouts: play G episodes of each task from one start state, all live episodes batched together.

Flow per turn: every live episode observes its device (screenshot, and elements when the prompt shows
them), one device thread each → one prompt each → one batched sampling call (identical prompts, such as
the G members' first screens, are prefilled once and sampled G times) → parse → execute on each device,
again concurrently, then let real screens settle. Episode-control actions (``terminate``, ``answer``) end an
episode without touching the device; invalid outputs count as a step and are recorded, and too many in a row
end the episode. A ``DeviceError`` (or a call past its timeout) while observing, acting or checking marks
the episode lost: it is kept out of its group's statistics and never stops the others. When an episode
ends its task checker scores it.

Sampling is seeded per (run seed, step, group, member, turn), so an episode's actions do not depend on
how episodes were batched or which prompts were merged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from PIL import Image

from emulators.actions import Answer, Terminate
from emulators.device import Device
from emulators.elements import Element
from emulators.errors import DeviceError, InvalidAction
from gui_grpo.policy.actions import Invalid, parse_action
from gui_grpo.policy.engine import Completion, Policy
from gui_grpo.policy.prompts import Prompt
from gui_grpo.rollout.devices import DeviceCalls, in_process
from tasks.base import Episode, Task

log = logging.getLogger(__name__)
EndReason = Literal["terminate", "answer", "max_steps", "invalid_limit", "lost"]


def episode_seed(*parts: int | str) -> int:
    """A 63-bit seed from the parts that identify one sampling decision."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def start_hash(device: Device, initial_state: dict[str, Any]) -> str:
    """Hash of a start state: the screenshot's PNG bytes and the state ``task.setup`` read back."""
    digest = hashlib.sha256(png_bytes(device.screenshot().convert("RGB")))
    digest.update(json.dumps(initial_state, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass
class RolloutConfig:
    """How episodes are played. ``play_groups`` keyword arguments override these fields."""

    max_steps: int | None = None
    """Cap on steps per episode; None uses each task's own ``max_steps``."""
    max_invalid_in_a_row: int | None = 3
    """End an episode after this many invalid outputs in a row (None: never)."""
    max_batch: int = 16
    """Most sampled rows (prompts × samples) per engine call."""
    io_threads: int | None = None
    """Device threads; None: one per live device, except in-process simulators (no I/O to overlap)."""
    device_timeout_s: float = 60.0
    """Longest wait for one device call (observe, act, check) before its episode counts as lost."""
    settle_s: float | None = None
    """Pause after each device action so the screen settles; None: 0 for in-process sims, else 1 s."""
    record_elements: bool = False
    """Dump the accessibility tree every step even when the prompt does not show it (costs a dump)."""

    def __post_init__(self) -> None:
        if self.max_invalid_in_a_row is not None and self.max_invalid_in_a_row < 1:
            raise ValueError("max_invalid_in_a_row must be >= 1 (or None to never stop on invalid output)")
        if self.max_batch < 1 or self.device_timeout_s <= 0:
            raise ValueError("max_batch must be >= 1 and device_timeout_s > 0")
        if self.settle_s is not None and self.settle_s < 0:
            raise ValueError("settle_s must be >= 0")


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
    elements: list[str] = field(default_factory=list)  # the observed elements, ``Element.describe()``
    prompt_tokens: int = 0  # prompt length in tokens
    timing: dict[str, float] = field(default_factory=dict)  # seconds: observe, sample, act, settle


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
    start_hash: str | None = None  # screenshot + initial state at the start (see ``start_hash``)
    end_reason: EndReason | None = None

    @property
    def claims_success(self) -> bool:
        """The agent said the task is done: ``terminate`` with status success, or an ``answer`` (answering
        is how a task ends when the agent believes it has what was asked)."""
        return self.claimed_status == "success" or self.answer is not None

    def summary(self) -> dict[str, Any]:
        """JSON-friendly summary without the per-step payloads."""
        d = asdict(self)
        d.pop("steps")
        d["num_steps"] = len(self.steps)
        d["actions"] = [s.action for s in self.steps]
        return d


@dataclass
class GroupSpec:
    """One task instance to play ``len(devices)`` times, and where."""

    task: Task
    seed: int
    group: int
    devices: list[Device]  # already in the start state
    initial_state: dict[str, Any]
    initial_states: list[dict[str, Any]] | None = None  # per member, when each device replayed the setup
    start_hashes: list[str] = field(default_factory=list)  # per member
    setup_errors: list[str | None] = field(default_factory=list)  # per member: why its setup failed

    @property
    def starts_match(self) -> bool:
        """Whether every member's start-state hash is the same (always true for forked devices)."""
        return len(set(self.start_hashes)) <= 1


def start_group(task: Task, seed: int, group: int, size: int, make_device: Callable[[], Device]) -> GroupSpec:
    """Set up one device and fork it; devices that cannot fork each replay the setup."""
    base = make_device()
    if not base.can_fork:
        return start_group_on(task, seed, group, [base] + [make_device() for _ in range(size - 1)])
    initial = task.setup(base)
    digest = start_hash(base, initial)
    devices = base.fork(size)
    base.close()
    return GroupSpec(task, seed, group, devices, initial, [initial] * size, [digest] * size, [None] * size)


def start_group_on(
    task: Task, seed: int, group: int, devices: list[Device], timeout_s: float = 120.0
) -> GroupSpec:
    """Replay ``task.setup`` on every device at once and record each start-state hash.

    A member whose setup fails keeps its error in ``setup_errors`` and is played as lost.
    """

    def setup(device: Device) -> tuple[dict[str, Any], str]:
        initial = task.setup(device)
        return initial, start_hash(device, initial)

    threads = 0 if in_process(devices) else len(devices)
    with DeviceCalls(threads, timeout_s) as calls:
        outcomes = calls.map(setup, devices)
    states = [o.value[0] if o.ok else {} for o in outcomes]
    hashes = [o.value[1] if o.ok else "" for o in outcomes]
    errors = [None if o.ok else f"{type(o.error).__name__}: {o.error}" for o in outcomes]
    first = next((s for s, e in zip(states, errors, strict=True) if e is None), {})
    spec = GroupSpec(task, seed, group, list(devices), first, states, hashes, errors)
    if not spec.starts_match:
        log.warning("group %d (%s): members start from different states %s", group, task.task_id, hashes)
    return spec


@dataclass
class _Live:
    task: Task
    device: Device
    initial_state: dict[str, Any]
    result: EpisodeResult
    screens: list[Image.Image] = field(default_factory=list)  # resized, oldest first
    history: list[str] = field(default_factory=list)
    invalid_streak: int = 0
    done: bool = False

    def end(self, reason: EndReason) -> None:
        self.result.end_reason = reason
        self.done = True

    def lose(self, error: DeviceError) -> None:
        self.result.lost = f"{type(error).__name__}: {error}"
        self.end("lost")


@dataclass
class _Seen:
    """One observation, made on the device's thread."""

    screen_size: tuple[int, int]
    resized: Image.Image
    elements: list[Element] | None


def history_line(text: str) -> str:
    """The text-history line for one model output: its tool-call arguments as compact JSON."""
    body = text.split("<tool_call>")[-1].split("</tool_call>")[0].strip()
    try:
        body = json.dumps(json.loads(body).get("arguments", json.loads(body)), separators=(", ", ": "))
    except (ValueError, AttributeError):
        pass
    return body[:200]


class _Player:
    """Plays the episodes of one ``play_groups`` call."""

    def __init__(self, policy: Policy, cfg: RolloutConfig, lives: list[_Live]) -> None:
        self.policy = policy
        self.cfg = cfg
        self.lives = lives
        devices = [x.device for x in lives]
        local = in_process(devices)
        threads = cfg.io_threads if cfg.io_threads is not None else (0 if local else len(devices))
        self.calls = DeviceCalls(threads, cfg.device_timeout_s)
        self.settle_s = cfg.settle_s if cfg.settle_s is not None else (0.0 if local else 1.0)
        self.show_elements = policy.builder.cfg.observation == "pixels+elements"

    def begin(self) -> None:
        outcomes = self.calls.map(lambda x: float(x.task.progress(x.device)), self.live())
        for x, o in zip(self.live(), outcomes, strict=True):
            if o.ok:
                x.result.progress_start = o.value
            else:
                x.lose(o.error)

    def live(self) -> list[_Live]:
        return [x for x in self.lives if not x.done]

    def _observe(self, x: _Live) -> _Seen:
        screen = x.device.screenshot()
        resized = self.policy.builder.resize(screen)
        elements = x.device.elements() if self.show_elements or self.cfg.record_elements else None
        return _Seen(screen.size, resized, elements)

    def turn(self, index: int, run_seed: int, step: int, greedy: bool) -> None:
        """Observe, sample and act for every live episode."""
        live = self.live()
        seen = self.calls.map(self._observe, live)
        ready: list[tuple[_Live, Prompt, _Seen, float]] = []
        for x, o in zip(live, seen, strict=True):
            if not o.ok:
                x.lose(o.error)
                continue
            x.screens.append(o.value.resized)
            del x.screens[: -self.policy.builder.cfg.screenshots]
            elements = o.value.elements if self.show_elements else None
            prompt = self.policy.builder.build(
                x.task.instruction, x.screens, x.history, o.value.screen_size, elements
            )
            ready.append((x, prompt, o.value, o.seconds))
        if not ready:
            return
        seeds = [episode_seed(run_seed, step, x.result.group, x.result.member, index) for x, *_ in ready]
        t0 = time.perf_counter()
        comps = self.policy.sample([r[1] for r in ready], seeds, greedy, self.cfg.max_batch)
        sample_s = time.perf_counter() - t0
        acting: list[tuple[_Live, Any]] = []
        for (x, prompt, seen_now, observe_s), comp in zip(ready, comps, strict=True):
            parsed = self._parse(prompt, comp)
            self._record(x, prompt, seen_now, comp, parsed, {"observe": observe_s, "sample": sample_s})
            if not self._control(x, parsed) and not isinstance(parsed, Invalid):
                acting.append((x, parsed))
        self._act(acting)
        for x, *_ in ready:
            self._check_limits(x)

    def _parse(self, prompt: Prompt, comp: Completion) -> object:
        return parse_action(
            comp.text,
            family=self.policy.family,
            image_size=prompt.model_image_size,
            screen_size=prompt.screen_size,
            elements=prompt.elements,
            action_format=self.policy.builder.action_format,
        )

    def _record(
        self, x: _Live, prompt: Prompt, seen: _Seen, comp: Completion, parsed: object, timing: dict
    ) -> None:
        valid = not isinstance(parsed, Invalid)
        x.result.steps.append(
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
                elements=[e.describe() for e in seen.elements or []],
                prompt_tokens=comp.prompt_tokens,
                timing=dict(timing),
            )
        )
        if valid:  # the streak of invalid outputs resets once the device has carried the action out
            x.history.append(history_line(comp.text))
        else:
            self._mark_invalid(x, parsed.reason)

    @staticmethod
    def _mark_invalid(x: _Live, reason: str) -> None:
        step = x.result.steps[-1]
        if step.valid:  # a parsed action the device refused
            step.valid = False
            step.action = f"Invalid({reason!r})"
            x.history[-1] = f"(invalid action: {reason})"
        else:
            x.history.append(f"(invalid output: {reason})")
        x.result.invalid_actions += 1
        x.invalid_streak += 1

    @staticmethod
    def _control(x: _Live, parsed: object) -> bool:
        if isinstance(parsed, Terminate):
            x.result.claimed_status = parsed.status
            x.end("terminate")
            return True
        if isinstance(parsed, Answer):
            x.result.answer = parsed.text
            x.end("answer")
            return True
        return False

    def _act(self, acting: list[tuple[_Live, Any]]) -> None:
        def act(item: tuple[_Live, Any]) -> tuple[float, str | None]:
            x, action = item
            t0 = time.perf_counter()
            try:
                x.device.execute(action)
            except InvalidAction as e:  # the device refused the action (e.g. an unknown app): invalid output
                return time.perf_counter() - t0, str(e)
            t1 = time.perf_counter()
            if self.settle_s > 0:
                time.sleep(self.settle_s)
            return t1 - t0, None

        for (x, _), o in zip(acting, self.calls.map(act, acting), strict=True):
            if not o.ok:
                x.lose(o.error)
                continue
            act_s, refused = o.value
            x.result.steps[-1].timing.update(act=act_s, settle=o.seconds - act_s)
            if refused is not None:
                self._mark_invalid(x, refused)
            else:
                x.invalid_streak = 0

    def _check_limits(self, x: _Live) -> None:
        if x.done:
            return
        limit = self.cfg.max_invalid_in_a_row
        if limit is not None and x.invalid_streak >= limit:
            x.end("invalid_limit")
        elif len(x.result.steps) >= (self.cfg.max_steps or x.task.max_steps):
            x.result.truncated = True
            x.end("max_steps")

    def score(self) -> None:
        """Run each scorable episode's checker on its device (concurrently); a failing read loses it."""

        def check(x: _Live) -> tuple[float, float, list[str]]:
            r = x.result
            episode = Episode(
                x.initial_state, answer=r.answer, claimed_status=r.claimed_status, steps=len(r.steps)
            )
            score = float(x.task.check(x.device, episode))
            return score, float(x.task.progress(x.device)), list(x.task.side_effects(x.device, episode))

        scorable = [x for x in self.lives if x.result.lost is None]
        for x, o in zip(scorable, self.calls.map(check, scorable), strict=True):
            if o.ok:
                x.result.score, x.result.progress_end, x.result.side_effects = o.value
            else:
                x.lose(o.error)


def _lives(groups: list[GroupSpec]) -> list[_Live]:
    lives = []
    for g in groups:
        for m, device in enumerate(g.devices):
            res = EpisodeResult(g.task.name, dict(g.task.params), g.task.instruction, g.seed, g.group, m)
            res.start_hash = g.start_hashes[m] if m < len(g.start_hashes) else None
            initial = g.initial_states[m] if g.initial_states else g.initial_state
            live = _Live(g.task, device, initial, res)
            error = g.setup_errors[m] if m < len(g.setup_errors) else None
            if error is not None:
                live.lose(DeviceError(f"setup failed: {error}"))
            lives.append(live)
    return lives


def play_groups(
    policy: Policy,
    groups: list[GroupSpec],
    *,
    run_seed: int,
    step: int,
    greedy: bool = False,
    max_steps: int | None = None,
    max_batch: int | None = None,
    threads: int | None = None,
    config: RolloutConfig | None = None,
) -> list[EpisodeResult]:
    """Play every member of every group to the end; return one result per episode, group-major.

    ``max_steps``, ``max_batch`` and ``threads`` (device threads; 0 means the default) override the
    matching ``config`` fields.
    """
    cfg = config or RolloutConfig()
    overrides: dict[str, Any] = {}
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    if max_batch is not None:
        overrides["max_batch"] = max_batch
    if threads:
        overrides["io_threads"] = threads
    cfg = dataclasses.replace(cfg, **overrides)
    lives = _lives(groups)
    player = _Player(policy, cfg, lives)
    try:
        player.begin()
        turn = 0
        while player.live():
            player.turn(turn, run_seed, step, greedy)
            turn += 1
        player.score()
    finally:
        player.calls.close()
    return [x.result for x in lives]
