"""Episodes on disk: the frames the model saw, what it wrote, what was done, and the checker's verdict.

One directory per episode:

- ``episode.json``: the episode's summary (``EpisodeResult.summary()``) plus its verdict (success, false
  completion, side effects, lost device) and any caller extras (template, app, start-state hash);
- ``steps.jsonl``: one line per policy decision with every ``rollout.records.Step`` field, except that
  ``images_png`` becomes ``images``, a list of file names (identical images are stored once, named by
  content hash); plus ``frame``, the annotated current screen, and per-step extras (e.g. ``status``);
- ``img-<hash>.png``: the resized screenshots exactly as the model saw them;
- ``step-NN.webp``: the current screen with the step's tap, long press or swipe drawn on it, device
  coordinates mapped onto the frame, and the action's text in a banner below, wrapped to the frame's
  width (never cut).

``load_steps`` reads the steps back as ``Step`` objects equal to the ones written, so offline GRPO can
train on evaluation or deployment trajectories.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from emulators.actions import (
    CONTROL_ACTION_TYPES,
    DEVICE_ACTION_TYPES,
    LongPress,
    Swipe,
    Tap,
)
from emulators.errors import InvalidAction
from gui_grpo.rollout.records import EpisodeResult, Step

EPISODE_FILE = "episode.json"
STEPS_FILE = "steps.jsonl"
_STEP_FIELDS = [f.name for f in dataclasses.fields(Step)]
_TUPLE_FIELDS = ("screen_size", "model_image_size")
_ACTION_TYPES = {cls.__name__: cls for cls in (*DEVICE_ACTION_TYPES, *CONTROL_ACTION_TYPES)}
_TAP_COLOUR = (230, 30, 60)
_PRESS_COLOUR = (245, 140, 0)
_SWIPE_COLOUR = (20, 110, 240)
CAPTION_MARGIN = 3
"""Pixels between the frame's edges and the caption's text."""
_CONTROL_SPACE = re.compile(r"[\t\n\r\v\f]")


class TrajectoryError(Exception):
    """A trajectory directory is missing or malformed."""


def action_from_repr(text: str) -> Any | None:
    """The action a ``Step.action`` string describes (``"Tap(x=5, y=9)"``), or None for invalid output.

    Only the action types of ``emulators.actions`` with literal keyword arguments are accepted.
    """
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.args:
        return None
    cls = _ACTION_TYPES.get(node.func.id)
    if cls is None:
        return None
    try:
        return cls(**{kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg})
    except (ValueError, TypeError, SyntaxError, InvalidAction):
        return None


def _to_frame(x: float, y: float, scale: tuple[float, float]) -> tuple[float, float]:
    return x * scale[0], y * scale[1]


def _ring(
    draw: ImageDraw.ImageDraw, centre: tuple[float, float], r: float, colour: tuple, width: int
) -> None:
    x, y = centre
    draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=width)


def _arrow(draw: ImageDraw.ImageDraw, a: tuple[float, float], b: tuple[float, float], r: float) -> None:
    draw.line((a, b), fill=_SWIPE_COLOUR, width=max(2, int(r / 3)))
    dx, dy = b[0] - a[0], b[1] - a[1]
    norm = max(1e-6, (dx * dx + dy * dy) ** 0.5)
    ux, uy = dx / norm, dy / norm
    head = 1.6 * r
    left = (b[0] - head * ux + head * 0.5 * uy, b[1] - head * uy - head * 0.5 * ux)
    right = (b[0] - head * ux - head * 0.5 * uy, b[1] - head * uy + head * 0.5 * ux)
    draw.polygon([b, left, right], fill=_SWIPE_COLOUR)
    _ring(draw, a, r * 0.6, _SWIPE_COLOUR, max(2, int(r / 3)))


def _prefix_that_fits(word: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: float) -> int:
    """The length of the longest prefix of ``word`` at most ``width`` pixels wide (at least 1)."""
    lo, hi = 1, len(word)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if font.getlength(word[:mid]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return lo


def wrap_caption(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: float) -> list[str]:
    """``text`` as lines at most ``width`` pixels wide in ``font``, broken at spaces, and inside a word
    only where the word alone is wider than a line. Nothing is dropped but the spaces at the breaks: the
    lines joined with them give ``text`` back. A single character wider than ``width`` gets a line."""
    lines: list[str] = []
    line = ""
    for word in re.findall(r"\s*\S+", text):  # each word with the spaces before it
        if line and font.getlength(line + word) <= width:
            line += word
            continue
        if line:
            lines.append(line)
            word = word.lstrip()
        while len(word) > 1 and font.getlength(word) > width:
            cut = _prefix_that_fits(word, font, width)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    lines.append(line)
    return lines


def annotate_frame(frame: Image.Image, action_text: str, screen_size: tuple[int, int]) -> Image.Image:
    """``frame`` (what the model saw) with the action drawn on it and its text in a banner below, wrapped
    to the frame's width; the banner grows a line at a time, so no part of the text is lost.

    Device coordinates are scaled by frame size / screen size, the inverse of the resize the model saw.
    """
    frame = frame.convert("RGB")
    w, h = frame.size
    scale = (w / max(1, screen_size[0]), h / max(1, screen_size[1]))
    font = ImageFont.load_default()
    lines = wrap_caption(_CONTROL_SPACE.sub(" ", action_text), font, w - 2 * CAPTION_MARGIN)
    line_h = max(1, int(font.getbbox("Ag")[3]))
    banner = 2 + line_h * len(lines)  # 14 px for one line of the default font
    out = Image.new("RGB", (w, h + banner), (20, 20, 20))
    out.paste(frame, (0, 0))
    draw = ImageDraw.Draw(out)
    r = max(5.0, w / 30)
    action = action_from_repr(action_text)
    if isinstance(action, Tap):
        centre = _to_frame(action.x, action.y, scale)
        _ring(draw, centre, r, _TAP_COLOUR, 3)
        _ring(draw, centre, 2, _TAP_COLOUR, 2)
    elif isinstance(action, LongPress):
        centre = _to_frame(action.x, action.y, scale)
        _ring(draw, centre, r, _PRESS_COLOUR, 3)
        _ring(draw, centre, r * 0.55, _PRESS_COLOUR, 3)
    elif isinstance(action, Swipe):
        _arrow(draw, _to_frame(action.x1, action.y1, scale), _to_frame(action.x2, action.y2, scale), r)
    colour = (255, 120, 120) if action is None else (235, 235, 235)
    for i, line in enumerate(lines):
        draw.text((CAPTION_MARGIN, h + 2 + i * line_h), line, fill=colour, font=font)
    return out


class TrajectoryWriter:
    """Writes one episode's directory step by step, so an interrupted run keeps what it did."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._steps = open(self.directory / STEPS_FILE, "w", encoding="utf-8")
        self.count = 0

    def _store_image(self, png: bytes) -> str:
        name = f"img-{hashlib.sha256(png).hexdigest()[:16]}.png"
        path = self.directory / name
        if not path.exists():
            path.write_bytes(png)
        return name

    def add_step(self, step: Step, extras: dict[str, Any] | None = None) -> Path:
        """Store one step; return the path of its annotated frame."""
        row: dict[str, Any] = {k: getattr(step, k) for k in _STEP_FIELDS if k != "images_png"}
        row["images"] = [self._store_image(png) for png in step.images_png]
        frame_name = f"step-{self.count:02d}.webp"
        if step.images_png:
            frame = Image.open(io.BytesIO(step.images_png[-1]))
            annotate_frame(frame, step.action, step.screen_size).save(
                self.directory / frame_name, format="WEBP", quality=80, method=4
            )
            row["frame"] = frame_name
        else:
            row["frame"] = None
        row.update(extras or {})
        self._steps.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._steps.flush()
        self.count += 1
        return self.directory / frame_name

    def finish(self, result: EpisodeResult, verdict: dict[str, Any]) -> dict[str, Any]:
        """Write ``episode.json`` (summary and verdict) and close; return the record written."""
        self._steps.close()
        record = {**result.summary(), **verdict, "dir": self.directory.name}
        (self.directory / EPISODE_FILE).write_text(json.dumps(record, indent=1, ensure_ascii=False))
        return record

    def close(self) -> None:
        self._steps.close()


def save_episode(
    result: EpisodeResult,
    directory: str | Path,
    verdict: dict[str, Any],
    step_extras: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write a whole episode; return its record (summary + verdict)."""
    writer = TrajectoryWriter(directory)
    for i, step in enumerate(result.steps):
        writer.add_step(step, step_extras[i] if step_extras else None)
    return writer.finish(result, verdict)


def load_step_rows(directory: str | Path) -> list[dict[str, Any]]:
    """The raw JSONL rows of an episode directory (with file names, frames and extras)."""
    path = Path(directory) / STEPS_FILE
    if not path.is_file():
        raise TrajectoryError(f"{directory} has no {STEPS_FILE}: not an episode directory")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_steps(directory: str | Path) -> list[Step]:
    """The episode's steps as ``Step`` objects, images read back as the PNG bytes the model saw."""
    directory = Path(directory)
    steps = []
    for row in load_step_rows(directory):
        # Fields added to Step later have defaults: older trajectories load without them.
        fields = {k: row[k] for k in _STEP_FIELDS if k != "images_png" and k in row}
        for k in _TUPLE_FIELDS:
            if k in fields:
                fields[k] = tuple(fields[k])
        fields["images_png"] = [(directory / name).read_bytes() for name in row["images"]]
        try:
            steps.append(Step(**fields))
        except TypeError as e:
            raise TrajectoryError(f"{directory}: a step record lacks required fields ({e})") from e
    return steps


def load_episode(directory: str | Path) -> EpisodeResult:
    """An ``EpisodeResult`` with its steps, from a directory written by ``save_episode``."""
    directory = Path(directory)
    path = directory / EPISODE_FILE
    if not path.is_file():
        raise TrajectoryError(f"{directory} has no {EPISODE_FILE}: not an episode directory")
    record = json.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in dataclasses.fields(EpisodeResult)} - {"steps"}
    result = EpisodeResult(**{k: record[k] for k in names if k in record})
    result.steps = load_steps(directory)
    return result
