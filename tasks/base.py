"""The task contract: a template with validated parameters, setup, checker, oracle, and a registry.

A task instance is a template plus its parameters. ``setup`` brings a device to the task's start through
shell commands and returns the initial state the checks need; ``check`` reads the device through shell
commands only and scores the episode in [0, 1]. Setup and checks use only the device contract
(``AndroidDevice`` for the Android templates, ``WebDevice`` for web pages), never simulator internals, so
portable tasks run unchanged on an emulator or a phone.
"""

from __future__ import annotations

import random
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from emulators.actions import ControlAction, DeviceAction
from emulators.device import AndroidDevice

Difficulty = Literal["easy", "medium", "hard"]
ClaimedStatus = Literal["success", "failure"]


class TaskError(Exception):
    """A task was used wrongly (bad parameters, checked before setup, unknown name)."""


class ParamError(TaskError, ValueError):
    """Parameters do not match the task's schema."""


@dataclass(frozen=True)
class Param:
    """One parameter of a template: its type and the values it may take."""

    kind: type
    choices: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    pattern: str | None = None  # full-match regex for strings
    ascii_only: bool = True  # strings a phone would type must be ASCII

    def validate(self, name: str, value: Any) -> None:
        if isinstance(value, bool) and self.kind is not bool:
            raise ParamError(f"parameter {name!r} must be {self.kind.__name__}, got a bool")
        if self.kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, self.kind):
            raise ParamError(f"parameter {name!r} must be {self.kind.__name__}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ParamError(f"parameter {name!r} must be one of {list(self.choices)}, got {value!r}")
        if self.min is not None and value < self.min:
            raise ParamError(f"parameter {name!r} must be >= {self.min}, got {value!r}")
        if self.max is not None and value > self.max:
            raise ParamError(f"parameter {name!r} must be <= {self.max}, got {value!r}")
        if isinstance(value, str):
            if self.ascii_only and not value.isascii():
                raise ParamError(f"parameter {name!r} must be ASCII (a phone types it), got {value!r}")
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                raise ParamError(f"parameter {name!r} must match {self.pattern!r}, got {value!r}")


@dataclass
class Episode:
    """What a checker may know about an episode besides the device: the agent's claims and the start."""

    initial_state: dict[str, Any] | None
    answer: str | None = None
    claimed_status: ClaimedStatus | None = None
    steps: int = 0
    actions: list[Any] = field(default_factory=list)


class Task(ABC):
    """A task template. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]
    app: ClassVar[str]  # launcher label, e.g. "Settings"
    difficulty: ClassVar[Difficulty]
    sim_only: ClassVar[bool] = False  # True for apps stock Android lacks (Clock, Notes, Calculator)
    information: ClassVar[bool] = False  # answered with the `answer` action
    max_steps: ClassVar[int] = 10
    phrasings: ClassVar[tuple[str, ...]] = ()  # instruction templates over the params, >= 3 (none when
    # ``page_instruction``)
    params_schema: ClassVar[dict[str, Param]] = {}
    # Plausible wrong answers a guesser would try on an information task; `tasks verify` checks they
    # score low. Fixed per template (independent of the sampled parameters).
    answer_guesses: ClassVar[tuple[str, ...]] = ()
    seed: int | None = None  # the seed ``sample`` drew this instance from, if any
    device_kind: ClassVar[Literal["android", "web"]] = "android"
    """What the template runs on: ``android`` (PhoneSim, emulators, phones) or ``web`` (``web:N`` pages)."""
    source: ClassVar[str] = "gui-grpo"
    """Who wrote the template: ``gui-grpo`` (tasks/*_tasks.py) or ``miniwob`` (MiniWoB++'s pages)."""
    page_instruction: ClassVar[bool] = False
    """True when the instruction is written by the page at setup (MiniWoB's utterance): ``phrasings``
    is then empty and ``instruction`` is what setup read back."""
    ends_itself: ClassVar[bool] = False
    """True when the environment ends the episode on its own (MiniWoB's ``done``): the rollout asks
    ``finished(device)`` after each action and ends the episode when it says so."""

    def __init__(self, params: dict[str, Any], phrasing: int = 0) -> None:
        self.validate_params(params)
        count = len(self.phrasings) or int(self.page_instruction)  # a page's instruction is phrasing 0
        if not 0 <= phrasing < count:
            raise ParamError(f"{self.name}: phrasing must be in [0, {count}), got {phrasing}")
        self.params = dict(params)
        self.phrasing = phrasing
        self.page_text: str | None = None
        """For ``page_instruction`` templates: the instruction the page wrote at the last ``setup``."""

    @classmethod
    def validate_params(cls, params: dict[str, Any]) -> None:
        missing = sorted(set(cls.params_schema) - set(params))
        extra = sorted(set(params) - set(cls.params_schema))
        if missing or extra:
            raise ParamError(f"{cls.name}: missing parameters {missing}, unexpected {extra}")
        for key, spec in cls.params_schema.items():
            spec.validate(key, params[key])

    @classmethod
    @abstractmethod
    def sample_params(cls, rng: random.Random) -> dict[str, Any]:
        """Draw parameters for one instance."""

    @classmethod
    def sample(cls, seed: int) -> Task:
        """The instance for ``seed``: parameters and phrasing both drawn from it."""
        rng = random.Random(f"{cls.name}:{seed}")
        params = cls.sample_params(rng)
        task = cls(params, phrasing=rng.randrange(len(cls.phrasings)) if cls.phrasings else 0)
        task.seed = seed
        return task

    @property
    def task_id(self) -> str:
        """``name:seed`` for sampled instances, else ``name``."""
        return self.name if self.seed is None else f"{self.name}:{self.seed}"

    @property
    def instruction(self) -> str:
        """What the agent is asked to do. For ``page_instruction`` templates it is what the page wrote at
        setup; before setup it is a marker naming the template (episodes recorded as lost before their
        setup ran still need a string), never an instruction a policy could act on."""
        if self.page_instruction:
            if self.page_text is None:
                return f"<{self.name}: the page writes the instruction at setup>"
            return self.page_text
        return self.phrasings[self.phrasing].format(**self.params)

    @abstractmethod
    def setup(self, device: AndroidDevice) -> dict[str, Any]:
        """Bring ``device`` to the task's start with shell commands; return what checks need later."""

    @abstractmethod
    def check(self, device: AndroidDevice, episode: Episode) -> float:
        """Score in [0, 1] from shell reads of ``device`` and ``episode``'s claims."""

    @abstractmethod
    def oracle(self, device: AndroidDevice) -> Iterator[DeviceAction | ControlAction]:
        """Yield actions that solve the task, observing ``device`` (accessibility tree) between them."""

    def expected_answer(self, initial_state: dict[str, Any] | None) -> str | None:
        """For an information task, an answer its ``check`` scores 1.0 from the start ``setup`` returned
        (what reports show beside the agent's answer); None for tasks that are not questions."""
        return None

    def finished(self, device: Any) -> bool:
        """Whether the environment has ended the episode (only asked when ``ends_itself``)."""
        return False

    def progress(self, device: AndroidDevice) -> float:
        """A potential in [0, 1] for optional shaping; 0 when the task defines none."""
        return 0.0

    def side_effects(self, device: AndroidDevice, episode: Episode) -> list[str]:
        """Unrelated changes the episode made (e.g. another contact deleted); empty when none."""
        return []

    @staticmethod
    def require_setup(episode: Episode) -> dict[str, Any]:
        if episode.initial_state is None:
            raise TaskError("check() called before setup(): pass the state setup() returned in the episode")
        return episode.initial_state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r}, phrasing={self.phrasing})"


_REGISTRY: dict[str, type[Task]] = {}


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: make a template available by its name."""
    if len(cls.phrasings) < 3 and not cls.page_instruction:
        raise TaskError(f"{cls.__name__} needs at least 3 instruction phrasings")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TaskError(f"two task templates are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def device_kind_of(spec_kind: str) -> Literal["android", "web"]:
    """The kind of device a device spec's kind gives (``web`` for ``web:``, else ``android``)."""
    return "web" if spec_kind == "web" else "android"


def check_device_kind(templates: list[type[Task]], spec_kind: str, devices: str) -> None:
    """Raise ``TaskError`` in one line when a template cannot run on the devices ``devices`` gives."""
    kind = device_kind_of(spec_kind)
    wrong = sorted({t.name for t in templates if t.device_kind != kind})
    if wrong:
        need = "web:N" if kind == "android" else "sim:N (or adb:, serial:, avd:)"
        shown = ", ".join(wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        raise TaskError(f"{shown} run on {'web pages' if kind == 'android' else 'Android devices'}, not on "
                        f"--devices {devices}: use --devices {need}, or a suite of {kind} tasks")


def get_task(name: str) -> type[Task]:
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none registered (call tasks.suites.load_templates())"
        raise TaskError(f"unknown task {name!r}; known tasks: {known}")
    return _REGISTRY[name]


def all_tasks() -> list[type[Task]]:
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
