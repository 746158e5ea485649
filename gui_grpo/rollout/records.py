"""What an episode leaves behind: one ``Step`` per policy decision and one ``EpisodeResult`` per episode.

Training (``gui_grpo.train.samples``), evaluation, reports and the on-disk format
(``gui_grpo.rollout.trajectories``) all read these records; ``gui_grpo.rollout.step`` writes them.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from PIL import Image

EndReason = Literal["terminate", "answer", "task_done", "max_steps", "invalid_limit", "lost", "stopped"]
"""``task_done``: the environment ended the episode itself (a MiniWoB page reported done)."""
"""Why an episode ended; "stopped" is a person ending a ``gui-grpo run`` (``--confirm`` answered q, or its
wall-clock limit)."""


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
    expected_answer: str | None = None  # what the task's checker accepts (``Task.expected_answer``), if any
    score: float = 0.0
    invalid_actions: int = 0
    progress_start: float = 0.0
    progress_end: float = 0.0
    side_effects: list[str] = field(default_factory=list)
    lost: str | None = None  # the device error that ended the episode, if any
    truncated: bool = False
    start_hash: str | None = None  # screenshot + initial state at the start (see ``group.start_hash``)
    end_reason: EndReason | None = None
    replayed: bool = False  # a stored success added to a later group of its instance (``train.replay``)

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
