"""Deployment: drive one real phone or emulator with the policy, behind a safety policy.

What reaches the device is only the action vocabulary (``emulators.actions``): the model's text is parsed
into typed actions, and ``Device.execute`` turns each into fixed ``input``/``monkey`` commands; no model
text is ever run as shell. On top of that ``SafetyPolicy`` refuses key events outside an allow-list (by
default BACK, HOME, ENTER, DEL and APP_SWITCH: never POWER, CALL or volume keys unless allowed), caps
waits, caps the number of steps, and optionally refuses to open apps outside an allow-list. A refused
action is recorded as a refused step and the model is told so in its history.

``dry_run`` prints each action and saves the annotated screen without executing anything; ``confirm``
asks before each action. Every step is saved like an evaluation episode (``gui_grpo.rollout.trajectories``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from emulators.actions import (
    CONTROL_ACTION_TYPES,
    KEYCODE_NAMES,
    MAX_WAIT_S,
    Answer,
    Key,
    LongPress,
    OpenApp,
    Swipe,
    Tap,
    Terminate,
    Wait,
    keycode_number,
)
from emulators.device import APP_PACKAGES, Device
from emulators.errors import DeviceError
from gui_grpo.policy.actions import Invalid, parse_action
from gui_grpo.rollout.play import EpisodeResult, Policy, Step, episode_seed, history_line, png_bytes
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
    """Longer waits are shortened to this."""
    max_steps: int = 15
    """The run stops after this many policy decisions."""

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

    def app_allowed(self, app: str) -> bool:
        if self.allowed_apps is None:
            return True
        name = app.strip().lower()
        if name in self.allowed_apps:
            return True
        return any(app.strip() in APP_PACKAGES.get(label, ()) for label in self.allowed_apps)


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
    points = []
    if isinstance(action, (Tap, LongPress)):
        points = [(action.x, action.y)]
    elif isinstance(action, Swipe):
        points = [(action.x1, action.y1), (action.x2, action.y2)]
    w, h = screen_size
    if any(not (0 <= x < w and 0 <= y < h) for x, y in points):
        return Vetted(None, refused=f"point outside the {w}x{h} screen")
    return Vetted(action)


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


@dataclass
class _State:
    result: EpisodeResult
    writer: TrajectoryWriter
    screens: list[Image.Image] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    done: bool = False
    refused: int = 0


def _decide(run: AgentRun, state: _State, step_no: int, vetted: Vetted) -> tuple[str, str]:
    """(status, history line) for a valid, allowed action; executes it unless dry-run or declined."""
    if run.dry_run:
        return "dry_run", ""
    if run.confirm is not None:
        answer = run.confirm(f"step {step_no}: execute {vetted.action!r}?")
        if answer == "q":
            state.done = True
            return "stopped", "(stopped by the user)"
        if answer != "y":
            return "declined", "(declined by the user)"
    return "executed", ""


def _observe(device: Device, policy: Policy, run: AgentRun, state: _State):
    builder = policy.builder
    screen = device.screenshot()
    state.screens.append(builder.resize(screen))
    del state.screens[: -builder.cfg.screenshots]
    elements = device.elements() if builder.cfg.observation == "pixels+elements" else None
    return builder.build(run.instruction, state.screens, state.history, screen.size, elements)


def _turn(device: Device, policy: Policy, run: AgentRun, state: _State, turn: int) -> None:
    prompt = _observe(device, policy, run, state)
    seed = episode_seed(run.seed, "run", turn)
    comp = policy.sample([prompt], [seed], run.greedy, 1)[0]
    parsed = parse_action(comp.text, family=policy.family, image_size=prompt.model_image_size,
                          screen_size=prompt.screen_size, elements=prompt.elements,
                          action_format=policy.builder.action_format)
    valid = not isinstance(parsed, Invalid)
    state.result.steps.append(Step(
        prompt_text=prompt.text, images_png=[png_bytes(im) for im in prompt.images],
        screen_size=prompt.screen_size, model_image_size=prompt.model_image_size,
        completion_ids=comp.token_ids, logprobs=comp.logprobs, output_text=comp.text,
        action=repr(parsed) if valid else f"Invalid({parsed.reason!r})", valid=valid))
    vetted = vet_action(parsed, run.safety, prompt.screen_size)
    line, note = history_line(comp.text), vetted.note
    if not valid:
        state.result.invalid_actions += 1
        status, line = "invalid", f"(invalid output: {parsed.reason})"
    elif isinstance(parsed, CONTROL_ACTION_TYPES):
        status, state.done = "ended", True
        if isinstance(parsed, Terminate):
            state.result.claimed_status = parsed.status
        elif isinstance(parsed, Answer):
            state.result.answer = parsed.text
    elif vetted.refused is not None:
        status, line, note = "refused", f"(refused: {vetted.refused})", vetted.refused
        state.refused += 1
    else:
        status, extra = _decide(run, state, turn + 1, vetted)
        line = extra or line
        if status == "executed":
            device.execute(vetted.action)
    state.history.append(line)
    frame = state.writer.add_step(state.result.steps[-1], {"status": status, "note": note})
    run.echo(f"step {turn + 1}: {state.result.steps[-1].action} -> {status}"
             + (f" ({note})" if note else "") + f"  [{frame}]")


def run_agent(device: Device, policy: Policy, run: AgentRun) -> dict[str, Any]:
    """Play ``run.instruction`` on ``device`` until the agent ends it or the step cap; return the record."""
    result = EpisodeResult("adhoc", {}, run.instruction, run.seed, 0, 0)
    state = _State(result, TrajectoryWriter(run.out))
    try:
        for turn in range(run.safety.max_steps):
            _turn(device, policy, run, state, turn)
            if state.done:
                break
        else:
            result.truncated = True
    except DeviceError as e:
        result.lost = f"{type(e).__name__}: {e}"
        run.echo(f"device lost: {result.lost}")
    finally:
        verdict = {
            "success": None,
            "false_completion": False,
            "side_effect": False,
            "is_lost": result.lost is not None,
            "index": 0,
            "app": None,
            "mode": "dry_run" if run.dry_run else "live",
            "refused_steps": state.refused,
            "device": device.name,
            "allowed_keys": sorted(run.safety.allowed_keys),
            "allowed_apps": None if run.safety.allowed_apps is None else sorted(run.safety.allowed_apps),
        }
        record = state.writer.finish(result, verdict)
    return record
