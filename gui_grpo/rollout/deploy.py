"""Deployment: drive one real phone or emulator with the policy, behind a safety policy.

What reaches the device is only the action vocabulary (``emulators.actions``): the model's text is parsed
into typed actions, and ``GuiDevice.execute`` turns each into fixed ``input``/``monkey`` commands; no model
text is ever run as shell. On top of that ``SafetyPolicy`` refuses key events outside an allow-list (by
default BACK, HOME, ENTER, DEL and APP_SWITCH: never POWER, CALL or volume keys unless allowed), caps
waits and long presses, caps the number of steps and the minutes, and refuses to open apps outside an
allow-list (``gui-grpo run`` defaults it to the apps the instruction names). A refused action is an invalid
step with status "refused" (``gui_grpo.rollout.step``'s rule): recorded, counted, and the model is told in
its history; so is an action the device itself refuses. Only a device that stops answering ends the run
as lost.

``dry_run`` prints each action and saves the annotated screen without executing anything; ``confirm``
asks before each action. Every step is saved like an evaluation episode (``gui_grpo.rollout.trajectories``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from emulators.actions import (
    KEYCODE_NAMES,
    MAX_WAIT_S,
    Key,
    LongPress,
    OpenApp,
    Swipe,
    Tap,
    Wait,
    keycode_number,
)
from emulators.device import APP_PACKAGES, GuiDevice
from emulators.errors import DeviceError
from gui_grpo.policy.actions import Invalid
from gui_grpo.policy.engine import Policy
from gui_grpo.rollout.records import EpisodeResult
from gui_grpo.rollout.step import EpisodeState, episode_seed, execute, needs_device, observe
from gui_grpo.rollout.trajectories import TrajectoryWriter

DEFAULT_ALLOWED_KEYS: frozenset[str] = frozenset({"BACK", "HOME", "ENTER", "DEL", "APP_SWITCH"})
Decision = Literal["y", "n", "q"]


class DeployError(Exception):
    """A deployment run cannot start; the message says why."""


@dataclass(frozen=True)
class SafetyPolicy:
    """What the agent may do on a real device."""

    allowed_keys: frozenset[str] = DEFAULT_ALLOWED_KEYS
    """Key names (KEYCODE_ without the prefix) the agent may press."""
    allowed_apps: frozenset[str] | None = None
    """Launcher labels or package names the agent may open; None allows every installed app."""
    max_wait_s: float = 5.0
    """Longer waits, and long presses, are shortened to this (a long press to no less than 0.5 s)."""
    max_steps: int = 15
    """The run stops after this many policy decisions."""
    max_minutes: float | None = None
    """The run stops (as "stopped") once this much wall-clock time has passed; None: no limit."""

    def __post_init__(self) -> None:
        try:
            keys = frozenset(KEYCODE_NAMES[keycode_number(k)] for k in self.allowed_keys)
        except DeviceError as e:
            raise DeployError(f"bad allowed key: {e}") from e
        object.__setattr__(self, "allowed_keys", keys)
        if self.allowed_apps is not None:
            object.__setattr__(self, "allowed_apps", frozenset(a.strip().lower() for a in self.allowed_apps))
        if not 0 <= self.max_wait_s <= MAX_WAIT_S:
            raise DeployError(f"max_wait_s must be in [0, {MAX_WAIT_S:g}], got {self.max_wait_s}")
        if self.max_steps < 1:
            raise DeployError("max_steps must be >= 1")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise DeployError(f"max_minutes must be > 0, got {self.max_minutes}")

    def app_allowed(self, app: str) -> bool:
        if self.allowed_apps is None:
            return True
        name = app.strip().lower()
        if name in self.allowed_apps:
            return True
        return any(app.strip() in APP_PACKAGES.get(label, ()) for label in self.allowed_apps)


def apps_named(instruction: str) -> frozenset[str]:
    """The launcher labels (``APP_PACKAGES``) the instruction names as words: the default allow-list of
    ``gui-grpo run`` ("Add a contact in Contacts" allows Contacts and nothing else)."""
    words = set(re.findall(r"[a-z]+", instruction.lower()))
    return frozenset(label for label in APP_PACKAGES if label in words)


@dataclass(frozen=True)
class Vetted:
    """The action to carry out (possibly adjusted), or why it was refused."""

    action: Any | None
    refused: str | None = None
    note: str | None = None


def vet_action(action: Any, safety: SafetyPolicy, screen_size: tuple[int, int]) -> Vetted:
    """Apply the safety policy to one parsed action."""
    if isinstance(action, Invalid):
        return Vetted(None, refused=f"invalid output: {action.reason}")
    if isinstance(action, Key) and action.key not in safety.allowed_keys:
        allowed = ", ".join(sorted(safety.allowed_keys))
        return Vetted(None, refused=f"key {action.key} is not allowed (allowed: {allowed}; see --allow-key)")
    if isinstance(action, OpenApp) and not safety.app_allowed(action.app):
        allowed = ", ".join(sorted(safety.allowed_apps or ()))
        return Vetted(None, refused=f"app {action.app!r} is not in the allow-list ({allowed})")
    if isinstance(action, Wait) and action.seconds > safety.max_wait_s:
        capped = Wait(safety.max_wait_s)
        return Vetted(capped, note=f"wait capped from {action.seconds:g} s to {safety.max_wait_s:g} s")
    longest_press_ms = max(500, int(safety.max_wait_s * 1000))
    if isinstance(action, LongPress) and action.duration_ms > longest_press_ms:
        action = LongPress(action.x, action.y, longest_press_ms)
        note = f"long press capped to {longest_press_ms} ms"
    else:
        note = None
    points = []
    if isinstance(action, (Tap, LongPress)):
        points = [(action.x, action.y)]
    elif isinstance(action, Swipe):
        points = [(action.x1, action.y1), (action.x2, action.y2)]
    w, h = screen_size
    if any(not (0 <= x < w and 0 <= y < h) for x, y in points):
        return Vetted(None, refused=f"point outside the {w}x{h} screen")
    return Vetted(action, note=note)


@dataclass
class AgentRun:
    """One deployment run: the instruction, where to save it, and how to behave."""

    instruction: str
    out: Path
    safety: SafetyPolicy = field(default_factory=SafetyPolicy)
    dry_run: bool = False
    confirm: Callable[[str], Decision] | None = None
    """Asked before each device action with its description; 'y' runs it, 'n' skips it, 'q' stops."""
    greedy: bool = True
    seed: int = 0
    echo: Callable[[str], None] = print


def _decide(run: AgentRun, state: EpisodeState, step_no: int, vetted: Vetted) -> str:
    """The status of a valid, allowed action: executed unless dry-run or declined ('q' ends the run)."""
    if run.dry_run:
        return "dry_run"
    if run.confirm is not None:
        answer = run.confirm(f"step {step_no}: execute {vetted.action!r}?")
        if answer == "q":
            state.history[-1] = "(stopped by the user)"
            state.end("stopped")
            return "stopped"
        if answer != "y":
            state.history[-1] = "(declined by the user)"
            return "declined"
    return "executed"


def _carry_out(
    device: GuiDevice, run: AgentRun, state: EpisodeState, parsed: object, turn: int
) -> tuple[str, str | None]:
    """Vet and (unless dry-run or declined) execute one parsed action: (status, note)."""
    if isinstance(parsed, Invalid):
        return "invalid", None
    if not needs_device(parsed):
        return "ended", None
    vetted = vet_action(parsed, run.safety, state.result.steps[-1].screen_size)
    if vetted.refused is not None:
        state.refuse(vetted.refused, f"(refused: {vetted.refused})")
        return "refused", vetted.refused
    status = _decide(run, state, turn + 1, vetted)
    if status != "executed":
        return status, vetted.note
    refused = execute(device, vetted.action)  # a DeviceError propagates: the device is lost
    if refused is not None:
        state.refuse(refused)
        return "invalid", refused
    state.acted()
    return status, vetted.note


def _turn(
    device: GuiDevice, policy: Policy, run: AgentRun, state: EpisodeState, writer: TrajectoryWriter, turn: int
) -> str:
    seen = observe(device, policy.builder)
    prompt = state.prompt(policy.builder, seen)
    comp = policy.sample([prompt], [episode_seed(run.seed, "run", turn)], run.greedy, 1)[0]
    parsed = state.decide(prompt, comp, seen)
    status, note = _carry_out(device, run, state, parsed, turn)
    step = state.result.steps[-1]
    frame = writer.add_step(step, {"status": status, "note": note})
    run.echo(f"step {turn + 1}: {step.action} -> {status}" + (f" ({note})" if note else "") + f"  [{frame}]")
    return status


def run_agent(device: GuiDevice, policy: Policy, run: AgentRun) -> dict[str, Any]:
    """Play ``run.instruction`` on ``device`` until the agent ends it, the step cap or the time limit;
    return the saved record. Refused and invalid actions are invalid steps; only a device that stops
    answering ends the run as lost."""
    record = EpisodeResult("adhoc", {}, run.instruction, run.seed, 0, 0)
    state = EpisodeState(run.instruction, record, policy.family, policy.builder.action_format)
    result, writer = state.result, TrajectoryWriter(run.out)
    minutes = run.safety.max_minutes
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    statuses: list[str] = []
    try:
        for turn in range(run.safety.max_steps):
            if deadline is not None and time.monotonic() >= deadline:
                run.echo(f"time limit of {minutes:g} min reached: stopping")
                state.end("stopped")
                break
            statuses.append(_turn(device, policy, run, state, writer, turn))
            if state.done:
                break
        else:
            result.truncated = True
            state.end("max_steps")
    except DeviceError as e:
        state.lose(e)
        run.echo(f"device lost: {result.lost}")
    finally:
        record = writer.finish(result, _verdict(device, run, statuses, result.lost is not None))
    return record


def _verdict(device: GuiDevice, run: AgentRun, statuses: list[str], lost: bool) -> dict[str, Any]:
    """What the saved record says beside the episode: nothing is checked on a free-text task."""
    return {
        "success": None,
        "false_completion": False,
        "side_effect": False,
        "is_lost": lost,
        "index": 0,
        "app": None,
        "mode": "dry_run" if run.dry_run else "live",
        "refused_steps": statuses.count("refused"),
        "device": device.name,
        "allowed_keys": sorted(run.safety.allowed_keys),
        "allowed_apps": None if run.safety.allowed_apps is None else sorted(run.safety.allowed_apps),
    }
