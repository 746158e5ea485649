"""A Gymnasium environment over one device and a source of tasks, for users of other RL libraries.

``PhoneEnv(device_factory, task_source)``:

- ``reset(seed=, options=)`` draws a task instance (or takes ``options["task"]``), opens a device with
  ``device_factory(seed)``, runs ``task.setup`` and returns the first observation and an info dict.
- ``step(action_text)`` reads the model's text and carries it out by the same rules as training
  (``gui_grpo.rollout.step``; coordinates are in the model's image space: the screenshot resized with the
  family's ``smart_resize`` and the pixel bounds of ``prompt``); a refused action is an invalid step.
  ``terminate`` and ``answer`` end the episode (terminated), as does a task that ends itself (a MiniWoB
  page reporting done); so do ``max_invalid_in_a_row`` invalid
  steps; ``max_steps`` truncates it; a device failure truncates it with ``info["lost"]`` set.
- The reward is 0 on every step but the last, where it is the task checker's score in [0, 1].
- Observations: ``screenshot`` (H, W, 3) uint8 at device resolution, ``elements`` (the numbered
  interactive elements, one ``Element.describe()`` line each) and ``instruction``. Text spaces have a
  fixed character set (printable ASCII and Latin-1); any other character is written as ``?``.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from emulators.device import GuiDevice
from emulators.errors import DeviceError
from gui_grpo.policy.actions import Invalid, resolve_format
from gui_grpo.policy.coords import family_spec, smart_resize
from gui_grpo.policy.engine import Completion
from gui_grpo.policy.prompts import Prompt, PromptConfig
from gui_grpo.rollout.records import EpisodeResult
from gui_grpo.rollout.step import EpisodeState, execute, needs_device
from tasks.base import Episode, Task

CHARSET = frozenset(string.printable + "".join(chr(c) for c in range(0xA0, 0x100)))
MAX_TEXT = 8192
TaskSource = str | Sequence[Task] | Callable[[int], Task]


def to_charset(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` with characters outside ``CHARSET`` replaced by ``?``, cut to ``limit``."""
    return "".join(c if c in CHARSET else "?" for c in text[:limit])


class PhoneEnv(gym.Env[dict[str, Any], str]):
    """One phone, one task per episode; actions are model output text."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self,
        device_factory: Callable[[int], GuiDevice],
        task_source: TaskSource = "smoke",
        *,
        family: str = "qwen2_5_vl",
        prompt: PromptConfig | None = None,
        max_steps: int | None = None,
        max_invalid_in_a_row: int | None = 3,
        split: str = "train",
        render_mode: str | None = None,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.device_factory = device_factory
        self.task_source = task_source
        self.family = family
        self.prompt = prompt or PromptConfig(observation="pixels+elements")
        self.action_format = resolve_format(family, self.prompt.action_format)
        self.factor = family_spec(family).patch_size * family_spec(family).merge_size
        self.max_steps = max_steps
        self.max_invalid_in_a_row = max_invalid_in_a_row
        self.split = split
        self.render_mode = render_mode
        self.device: GuiDevice | None = device_factory(0)
        width, height = self.device.screen_size
        self.screen_size = (width, height)
        self.observation_space = spaces.Dict(
            {
                "screenshot": spaces.Box(0, 255, (height, width, 3), np.uint8),
                "elements": spaces.Text(MAX_TEXT, min_length=0, charset=CHARSET),
                "instruction": spaces.Text(MAX_TEXT, min_length=0, charset=CHARSET),
            }
        )
        self.action_space = spaces.Text(1024, min_length=0, charset=CHARSET)
        self.task: Task | None = None
        self.state: EpisodeState | None = None  # the episode in play, recorded as training records it
        self._elements: list = []
        self._screen: np.ndarray | None = None

    def _draw_task(self, seed: int) -> Task:
        source = self.task_source
        if isinstance(source, str):
            from tasks.suites import instances

            return instances(source, self.split, 1, seed=seed)[0]
        if callable(source):
            return source(seed)
        return source[seed % len(source)]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        draw = int(self.np_random.integers(2**31))
        task = (options or {}).get("task") or self._draw_task(draw)
        device = self.device_factory(draw)
        if self.device is not None and self.device is not device:
            self.device.close()  # a factory may hand back the same (e.g. connected) device every time
        self.device = device
        self.task = task
        self.initial_state = task.setup(self.device)
        record = EpisodeResult(task.name, dict(task.params), task.instruction, draw, 0, 0)
        self.state = EpisodeState(task.instruction, record, self.family, self.action_format)
        obs = self._observe()
        return obs, {"task": task.task_id, "instruction": task.instruction, "max_steps": self._step_cap()}

    def _step_cap(self) -> int:
        return self.max_steps or (self.task.max_steps if self.task is not None else 10)

    def _observe(self) -> dict[str, Any]:
        assert self.device is not None and self.task is not None
        image = self.device.screenshot().convert("RGB")
        self._screen = np.asarray(image, dtype=np.uint8)
        self._elements = self.device.elements()
        return {
            "screenshot": self._screen,
            "elements": to_charset("\n".join(e.describe() for e in self._elements)),
            "instruction": to_charset(self.task.instruction),
        }

    def model_image_size(self) -> tuple[int, int]:
        """(width, height) of the screenshot as the model sees it; action coordinates refer to it."""
        w, h = self.screen_size
        rh, rw = smart_resize(h, w, self.factor, self.prompt.min_pixels, self.prompt.max_pixels)
        return rw, rh

    def step(self, action: str) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        if self.task is None or self.device is None or self.state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        state = self.state
        prompt = Prompt("", [], self.screen_size, self._elements, self.model_image_size())
        parsed = state.decide(prompt, Completion(token_ids=[], logprobs=[], text=action, stopped=True))
        info: dict[str, Any] = {"action": repr(parsed), "valid": not isinstance(parsed, Invalid)}
        try:
            refusal = execute(self.device, parsed) if needs_device(parsed) else None
            if refusal is not None:
                state.refuse(refusal)
            elif needs_device(parsed):
                state.acted()
                if self.task.ends_itself and self.task.finished(self.device):
                    state.end("task_done")  # the page ended the episode (MiniWoB's done)
            if state.invalid_reason is not None:
                info.update(valid=False, invalid_reason=state.invalid_reason)
            state.check_limits(self.max_invalid_in_a_row, self._step_cap())
            obs = self._observe()
            terminated = state.done and not state.result.truncated
            truncated = state.result.truncated
            reward = self._score(info) if state.done else 0.0
        except DeviceError as e:
            state.lose(e)
            info["lost"] = state.result.lost
            return self._last_obs(), 0.0, False, True, info
        return obs, reward, terminated, truncated, info

    def _last_obs(self) -> dict[str, Any]:
        assert self.task is not None
        screen = self._screen if self._screen is not None else self.observation_space["screenshot"].low
        return {"screenshot": screen, "elements": "", "instruction": to_charset(self.task.instruction)}

    def _score(self, info: dict[str, Any]) -> float:
        assert self.task is not None and self.device is not None and self.state is not None
        result = self.state.result
        episode = Episode(self.initial_state, answer=result.answer, claimed_status=result.claimed_status,
                          steps=len(result.steps))
        score = float(self.task.check(self.device, episode))
        info.update(score=score, invalid_actions=result.invalid_actions)
        return score

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self._screen
        return None

    def close(self) -> None:
        if self.device is not None:
            self.device.close()
            self.device = None


def web_factory(size: tuple[int, int] | None = None) -> Callable[[int], GuiDevice]:
    """A ``device_factory`` of one headless-Chromium page, reused by every episode (each task setup
    reloads it); ``PhoneEnv.close`` stops the browser."""
    from emulators.web import DEFAULT_SIZE, open_web_devices

    pages: list[GuiDevice] = []

    def make(seed: int) -> GuiDevice:
        if not pages:
            pages.extend(open_web_devices(1, size or DEFAULT_SIZE))
        return pages[0]

    return make


def sim_factory(resolution: str | tuple[int, int] = "small") -> Callable[[int], GuiDevice]:
    """A ``device_factory`` of in-process PhoneSims seeded by the episode seed."""
    from emulators.phonesim import SimDevice

    def make(seed: int) -> GuiDevice:
        return SimDevice(seed=random.Random(f"env:{seed}").randrange(2**31), resolution=resolution)

    return make
