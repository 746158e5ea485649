"""The episode step, written once: observe → prompt → sample → read the action → record → act.

Every place that plays an episode goes through these pieces: group rollouts for training and evaluation
(``gui_grpo.rollout.group``, batched across episodes), ``gui-grpo run`` (``gui_grpo.rollout.deploy``), the
Gymnasium env (``gui_grpo.rollout.env``), offline replay (``gui_grpo.train.offline``, one-step episodes) and
oracle demonstrations (``gui_grpo.train.demos``, the oracle in place of the sampler).

The rules, the same everywhere:

- ``terminate`` and ``answer`` end the episode without touching the device.
- Output that does not parse, and a parsed action the device refuses (``InvalidAction``: an unknown app, a
  character it cannot type) or a safety rule refuses, is an **invalid step**: recorded with
  ``valid=False``, counted in ``EpisodeResult.invalid_actions``, shown to the model in its history, and
  ``max_invalid_in_a_row`` of them end the episode.
- Only a device that stops answering (``DeviceError``, or a call past its timeout) ends an episode as lost.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from PIL import Image

from emulators.actions import Answer, Terminate
from emulators.device import GuiDevice
from emulators.elements import Element
from emulators.errors import InvalidAction
from gui_grpo.policy.actions import Invalid, parse_action
from gui_grpo.policy.engine import Completion
from gui_grpo.policy.prompts import Prompt, PromptBuilder
from gui_grpo.rollout.records import EndReason, EpisodeResult, Step, png_bytes


def episode_seed(*parts: int | str) -> int:
    """A 63-bit seed from the parts that identify one sampling decision."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def history_line(text: str) -> str:
    """The text-history line for one model output: its tool-call arguments as compact JSON."""
    body = text.split("<tool_call>")[-1].split("</tool_call>")[0].strip()
    try:
        body = json.dumps(json.loads(body).get("arguments", json.loads(body)), separators=(", ", ": "))
    except (ValueError, AttributeError):
        pass
    return body[:200]


@dataclass
class Seen:
    """One observation of a device: its screen size, the screenshot resized for the model, its elements."""

    screen_size: tuple[int, int]
    resized: Image.Image
    elements: list[Element] | None


def observe(device: GuiDevice, builder: PromptBuilder, *, record_elements: bool = False) -> Seen:
    """Read the screen (and the elements when the prompt shows them or ``record_elements``)."""
    screen = device.screenshot()
    shown = builder.cfg.observation == "pixels+elements"
    elements = device.elements() if shown or record_elements else None
    return Seen(screen.size, builder.resize(screen), elements)


def read_action(text: str, prompt: Prompt, family: str, action_format: str) -> object:
    """The typed action in ``text``, in the screen coordinates of the observation ``prompt`` showed (or an
    ``Invalid`` saying why there is none)."""
    return parse_action(
        text,
        family=family,
        image_size=prompt.model_image_size,
        screen_size=prompt.screen_size,
        elements=prompt.elements,
        action_format=action_format,
    )


def make_step(
    prompt: Prompt,
    comp: Completion,
    parsed: object,
    elements: list[Element] | None = None,
    timing: dict[str, float] | None = None,
) -> Step:
    """The record of one decision: what the model saw, what it wrote and the action read from it."""
    valid = not isinstance(parsed, Invalid)
    return Step(
        prompt_text=prompt.text,
        images_png=[png_bytes(im) for im in prompt.images],
        screen_size=prompt.screen_size,
        model_image_size=prompt.model_image_size,
        completion_ids=comp.token_ids,
        logprobs=comp.logprobs,
        output_text=comp.text,
        action=repr(parsed) if valid else f"Invalid({parsed.reason!r})",  # type: ignore[attr-defined]
        valid=valid,
        elements=[e.describe() for e in elements or []],
        prompt_tokens=comp.prompt_tokens,
        timing=dict(timing or {}),
    )


def execute(device: GuiDevice, action: object) -> str | None:
    """Carry ``action`` out; the reason when the device refuses it (an invalid step), else None.

    A ``DeviceError`` (the device stopped answering) propagates: the caller loses the episode.
    """
    try:
        device.execute(action)  # type: ignore[arg-type]
    except InvalidAction as e:
        return str(e)
    return None


@dataclass
class EpisodeState:
    """One episode in play: its record, the screens and history its prompts show, and the invalid streak."""

    instruction: str
    result: EpisodeResult
    family: str  # the model family and action format its outputs are read in
    action_format: str
    screens: list[Image.Image] = field(default_factory=list)  # resized, oldest first
    history: list[str] = field(default_factory=list)
    invalid_streak: int = 0
    invalid_reason: str | None = None  # why the last step was invalid; None when it was valid
    done: bool = False

    def prompt(self, builder: PromptBuilder, seen: Seen) -> Prompt:
        """The next prompt: the newest screens (as many as the prompt shows) and the history so far."""
        self.screens.append(seen.resized)
        del self.screens[: -builder.cfg.screenshots]
        elements = seen.elements if builder.cfg.observation == "pixels+elements" else None
        return builder.build(self.instruction, self.screens, self.history, seen.screen_size, elements)

    def decide(
        self,
        prompt: Prompt,
        comp: Completion,
        seen: Seen | None = None,
        timing: dict[str, float] | None = None,
    ) -> object:
        """Read and record the action in ``comp``; returns it. An invalid output is an invalid step;
        ``terminate``/``answer`` end the episode. The caller carries out any other action."""
        parsed = read_action(comp.text, prompt, self.family, self.action_format)
        step = make_step(prompt, comp, parsed, seen.elements if seen else None, timing)
        self.result.steps.append(step)
        self.invalid_reason = None
        if isinstance(parsed, Invalid):
            self._count_invalid(parsed.reason, f"(invalid output: {parsed.reason})")
        else:
            self.history.append(history_line(comp.text))
            self._control(parsed)
        return parsed

    def refuse(self, reason: str, line: str | None = None) -> None:
        """The last step's action was refused (by the device or a safety rule): it becomes an invalid step.
        ``line`` is what the history shows instead of the action (default ``(invalid action: reason)``)."""
        step = self.result.steps[-1]
        step.valid = False
        step.action = f"Invalid({reason!r})"
        self.history[-1] = line or f"(invalid action: {reason})"
        self._count_invalid(reason, None)

    def acted(self) -> None:
        """The device carried the last action out: the streak of invalid steps is over."""
        self.invalid_streak = 0

    def end(self, reason: EndReason) -> None:
        self.result.end_reason = reason
        self.done = True

    def lose(self, error: Exception) -> None:
        """The device stopped answering: the episode is lost (kept out of its group's statistics)."""
        self.result.lost = f"{type(error).__name__}: {error}"
        self.end("lost")

    def check_limits(self, max_invalid_in_a_row: int | None, max_steps: int) -> None:
        """End the episode after too many invalid steps in a row, or truncate it at ``max_steps``."""
        if self.done:
            return
        if max_invalid_in_a_row is not None and self.invalid_streak >= max_invalid_in_a_row:
            self.end("invalid_limit")
        elif len(self.result.steps) >= max_steps:
            self.result.truncated = True
            self.end("max_steps")

    def _count_invalid(self, reason: str, line: str | None) -> None:
        self.invalid_reason = reason
        if line is not None:
            self.history.append(line)
        self.result.invalid_actions += 1
        self.invalid_streak += 1

    def _control(self, parsed: object) -> None:
        if isinstance(parsed, Terminate):
            self.result.claimed_status = parsed.status
            self.end("terminate")
        elif isinstance(parsed, Answer):
            self.result.answer = parsed.text
            self.end("answer")


def needs_device(parsed: object) -> bool:
    """Whether ``parsed`` is an action for the device (not invalid output, not ``terminate``/``answer``)."""
    return not isinstance(parsed, (Invalid, Terminate, Answer))
