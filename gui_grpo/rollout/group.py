"""Group rollouts: play G episodes of each task from one start state, all live episodes batched together.

Flow per turn: every live episode observes its device (``step.observe``, one device thread each) → one
prompt each → one batched sampling call (identical prompts, such as the G members' first screens, are
prefilled once and sampled G times) → read and record each action (``EpisodeState.decide``) → execute on
each device, again concurrently, then let real screens settle. The rules for control actions, invalid
steps and lost devices are ``gui_grpo.rollout.step``'s. When an episode ends its task checker scores it.

Sampling is seeded per (run seed, step, group, member, turn), so an episode's actions do not depend on
how episodes were batched or which prompts were merged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.device import GuiDevice
from emulators.errors import DeviceError
from emulators.phonesim import SimDevice
from gui_grpo.policy.engine import Policy
from gui_grpo.policy.prompts import Prompt
from gui_grpo.rollout.devices import DeviceCalls, in_process
from gui_grpo.rollout.records import EpisodeResult, png_bytes
from gui_grpo.rollout.step import EpisodeState, Seen, episode_seed, execute, needs_device, observe
from tasks.base import Episode, Task

log = logging.getLogger(__name__)


def start_hash(device: GuiDevice, initial_state: dict[str, Any]) -> str:
    """Hash of a start state: the screenshot's PNG bytes and the state ``task.setup`` read back."""
    digest = hashlib.sha256(png_bytes(device.screenshot().convert("RGB")))
    digest.update(json.dumps(initial_state, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass
class PlayConfig:
    """How episodes are played. ``play_groups`` keyword arguments override these fields."""

    max_steps: int | None = None
    """Cap on steps per episode; None uses each task's own ``max_steps``."""
    max_invalid_in_a_row: int | None = 3
    """End an episode after this many invalid steps in a row (None: never)."""
    max_batch: int = 16
    """Most sampled rows (prompts × samples) per engine call."""
    io_threads: int | None = None
    """Device threads; None: one per live device, except in-process simulators (no I/O to overlap)."""
    device_timeout_s: float = 60.0
    """Longest wait for one device call (observe, act, check) before its episode counts as lost."""
    settle_s: float | None = None
    """Pause after each device action so the screen settles; None: the devices' own ``settle_s`` (0 for
    PhoneSim and web pages, 1 s for emulators and phones)."""
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
class GroupSpec:
    """One task instance to play ``len(devices)`` times, and where."""

    task: Task
    seed: int
    group: int
    devices: list[GuiDevice]  # already in the start state
    initial_state: dict[str, Any]
    initial_states: list[dict[str, Any]] | None = None  # per member, when each device replayed the setup
    start_hashes: list[str] = field(default_factory=list)  # per member
    setup_errors: list[str | None] = field(default_factory=list)  # per member: why its setup failed

    @property
    def starts_match(self) -> bool:
        """Whether every member's start-state hash is the same (always true for forked devices)."""
        return len(set(self.start_hashes)) <= 1


def start_group(
    task: Task, seed: int, group: int, size: int, make_device: Callable[[], GuiDevice]
) -> GroupSpec:
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
    task: Task, seed: int, group: int, devices: list[GuiDevice], timeout_s: float = 120.0
) -> GroupSpec:
    """Replay ``task.setup`` on every device at once and record each start-state hash.

    A member whose setup fails keeps its error in ``setup_errors`` and is played as lost.
    """

    def setup(device: GuiDevice) -> tuple[dict[str, Any], str]:
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
    """One episode of a group: its task, device and start state, and the step's ``EpisodeState``."""

    task: Task
    device: GuiDevice
    initial_state: dict[str, Any]
    state: EpisodeState

    @property
    def result(self) -> EpisodeResult:
        return self.state.result


class _Player:
    """Plays the episodes of one ``play_groups`` call."""

    def __init__(self, policy: Policy, cfg: PlayConfig, lives: list[_Live]) -> None:
        self.policy = policy
        self.cfg = cfg
        self.lives = lives
        devices = [x.device for x in lives]
        local = in_process(devices)
        threads = cfg.io_threads if cfg.io_threads is not None else (0 if local else len(devices))
        self.calls = DeviceCalls(threads, cfg.device_timeout_s)
        self.settle_s = cfg.settle_s if cfg.settle_s is not None else max(
            (d.settle_s for d in devices), default=0.0)

    def begin(self) -> None:
        outcomes = self.calls.map(lambda x: float(x.task.progress(x.device)), self.live())
        for x, o in zip(self.live(), outcomes, strict=True):
            if o.ok:
                x.result.progress_start = o.value
            else:
                x.state.lose(o.error)

    def live(self) -> list[_Live]:
        return [x for x in self.lives if not x.state.done]

    def turn(self, index: int, run_seed: int, step: int, greedy: bool) -> None:
        """Observe, sample and act for every live episode."""
        live = self.live()
        builder, record = self.policy.builder, self.cfg.record_elements
        seen = self.calls.map(lambda x: observe(x.device, builder, record_elements=record), live)
        ready: list[tuple[_Live, Prompt, Seen, float]] = []
        for x, o in zip(live, seen, strict=True):
            if not o.ok:
                x.state.lose(o.error)
                continue
            ready.append((x, x.state.prompt(builder, o.value), o.value, o.seconds))
        if not ready:
            return
        seeds = [episode_seed(run_seed, step, x.result.group, x.result.member, index) for x, *_ in ready]
        t0 = time.perf_counter()
        comps = self.policy.sample([r[1] for r in ready], seeds, greedy, self.cfg.max_batch)
        sample_s = time.perf_counter() - t0
        acting: list[tuple[_Live, Any]] = []
        for (x, prompt, seen_now, observe_s), comp in zip(ready, comps, strict=True):
            timing = {"observe": observe_s, "sample": sample_s}
            parsed = x.state.decide(prompt, comp, seen_now, timing)
            if needs_device(parsed):
                acting.append((x, parsed))
        self._act(acting)
        for x, *_ in ready:
            x.state.check_limits(self.cfg.max_invalid_in_a_row, self.cfg.max_steps or x.task.max_steps)

    def _act(self, acting: list[tuple[_Live, Any]]) -> None:
        def act(item: tuple[_Live, Any]) -> tuple[float, str | None, bool]:
            x, action = item
            t0 = time.perf_counter()
            refused = execute(x.device, action)
            t1 = time.perf_counter()
            if refused is None and self.settle_s > 0:
                time.sleep(self.settle_s)
            finished = refused is None and x.task.ends_itself and bool(x.task.finished(x.device))
            return t1 - t0, refused, finished

        for (x, _), o in zip(acting, self.calls.map(act, acting), strict=True):
            if not o.ok:
                x.state.lose(o.error)
                continue
            act_s, refused, finished = o.value
            x.result.steps[-1].timing.update(act=act_s, settle=o.seconds - act_s)
            if refused is not None:
                x.state.refuse(refused)
            else:
                x.state.acted()
            if finished:
                x.state.end("task_done")

    def score(self) -> None:
        """Run each scorable episode's checker on its device (concurrently); a failing read loses it.
        A scored episode also records the answer its task expects (None where the task asks nothing)."""

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
                x.result.expected_answer = x.task.expected_answer(x.initial_state)
            else:
                x.state.lose(o.error)


def _lives(groups: list[GroupSpec], policy: Policy) -> list[_Live]:
    lives = []
    for g in groups:
        for m, device in enumerate(g.devices):
            res = EpisodeResult(g.task.name, dict(g.task.params), g.task.instruction, g.seed, g.group, m)
            res.start_hash = g.start_hashes[m] if m < len(g.start_hashes) else None
            initial = g.initial_states[m] if g.initial_states else g.initial_state
            state = EpisodeState(g.task.instruction, res, policy.family, policy.builder.action_format)
            live = _Live(g.task, device, initial, state)
            error = g.setup_errors[m] if m < len(g.setup_errors) else None
            if error is not None:
                live.state.lose(DeviceError(f"setup failed: {error}"))
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
    config: PlayConfig | None = None,
) -> list[EpisodeResult]:
    """Play every member of every group to the end; return one result per episode, group-major.

    ``max_steps``, ``max_batch`` and ``threads`` (device threads; 0 means the default) override the
    matching ``config`` fields.
    """
    cfg = config or PlayConfig()
    overrides: dict[str, Any] = {}
    if max_steps is not None:
        overrides["max_steps"] = max_steps
    if max_batch is not None:
        overrides["max_batch"] = max_batch
    if threads:
        overrides["io_threads"] = threads
    cfg = dataclasses.replace(cfg, **overrides)
    lives = _lives(groups, policy)
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


DeviceFactory = Callable[[int, str], GuiDevice]
"""Makes the device a group starts from, given its seed and the sim resolution (forked G times)."""


@dataclass
class GroupJob:
    """One group to play: the task instance, the seed of the device it starts on, its global index."""

    task: Task
    device_seed: int
    group: int
    size: int


def sim_device(seed: int, resolution: str) -> GuiDevice:
    """The default ``DeviceFactory``: one PhoneSim."""
    return SimDevice(seed=seed, resolution=resolution)


def play_jobs(
    policy: Policy,
    jobs: list[GroupJob],
    make_device: DeviceFactory,
    resolution: str,
    *,
    run_seed: int,
    step: int,
    greedy: bool,
    max_steps: int | None,
) -> list[EpisodeResult]:
    """Set up and fork each job's start device, play all groups batched, close the devices.

    The in-process path of training and the body of a Ray rollout worker (``gui_grpo.train.ray_workers``).
    """
    groups = [
        start_group(j.task, j.device_seed, j.group, j.size, _factory(make_device, j.device_seed, resolution))
        for j in jobs
    ]
    try:
        return play_groups(policy, groups, run_seed=run_seed, step=step, greedy=greedy, max_steps=max_steps)
    finally:
        for g in groups:
            for d in g.devices:
                d.close()


def play_jobs_on(
    policy: Policy,
    jobs: list[GroupJob],
    devices: list[GuiDevice],
    *,
    run_seed: int,
    step: int,
    greedy: bool,
    max_steps: int | None,
) -> list[EpisodeResult]:
    """Play each job's group on ``size`` of ``devices`` that each replay the setup (devices that cannot
    fork: web pages); as many groups at once as the devices hold, the rest after them. The devices stay
    open for the next call."""
    results: list[EpisodeResult] = []
    pending = list(jobs)
    while pending:
        batch: list[GroupSpec] = []
        free = list(devices)
        while pending and len(free) >= pending[0].size:
            job = pending.pop(0)
            mine, free = free[: job.size], free[job.size :]
            batch.append(start_group_on(job.task, job.device_seed, job.group, mine))
        if not batch:
            size = pending[0].size
            raise ValueError(f"a group of {size} needs {size} devices; {len(devices)} given")
        how = {"run_seed": run_seed, "step": step, "greedy": greedy, "max_steps": max_steps}
        results += play_groups(policy, batch, **how)
    return results


def _factory(make_device: DeviceFactory, seed: int, resolution: str) -> Callable[[], GuiDevice]:
    return lambda: make_device(seed, resolution)


def lost_results(job: GroupJob, why: str) -> list[EpisodeResult]:
    """The episodes of a group that could not be played (its worker was lost): recorded, scored 0, kept out
    of the statistics."""
    t = job.task
    return [
        EpisodeResult(
            t.name, dict(t.params), t.instruction, job.device_seed, job.group, m, lost=why, end_reason="lost"
        )
        for m in range(job.size)
    ]
