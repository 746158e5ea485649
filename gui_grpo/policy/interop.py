"""Convert actions to and from AndroidWorld's JSON action format (``android_world/env/json_action.py``).

AndroidWorld writes one flat record per action: ``{"action_type": "click", "x": 10, "y": 20}`` or
``{"action_type": "click", "index": 3}``, ``scroll`` with a ``direction``, ``input_text`` (optionally on an
element ``index``), ``navigate_back``, ``navigate_home``, ``keyboard_enter``, ``open_app``, ``wait``,
``status`` (``goal_status`` ``complete`` or ``infeasible``), ``answer``, ``long_press``.

Mapping decisions (documented in docs/INTEROP.md):
- ``scroll`` direction is the direction the view moves *to*, as AndroidWorld's actuation does it: the finger
  starts at the centre of the element (or screen) and moves to the opposite edge, so ``down`` is a swipe
  from the centre up to the top edge. A ``Swipe`` is written as the ``scroll`` of its dominant axis.
- ``input_text`` with an ``index`` becomes a tap on that element, then ``Type``.
- ``double_tap``, ``unknown`` and keys other than BACK / HOME / ENTER have no counterpart: ``InteropError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from emulators.actions import (
    Answer,
    ControlAction,
    DeviceAction,
    Key,
    LongPress,
    OpenApp,
    Swipe,
    Tap,
    Terminate,
    Type,
    Wait,
)
from emulators.elements import Element
from emulators.errors import InvalidAction

_KEYS_TO_AW = {"BACK": "navigate_back", "HOME": "navigate_home", "ENTER": "keyboard_enter"}
_AW_TO_KEYS = {v: k for k, v in _KEYS_TO_AW.items()}
_STATUS_TO_AW = {"success": "complete", "failure": "infeasible"}
_AW_TO_STATUS = {v: k for k, v in _STATUS_TO_AW.items()}


class InteropError(ValueError):
    """An action with no counterpart in the other format, or a malformed AndroidWorld record."""


def to_androidworld(action: DeviceAction | ControlAction, elements: Sequence[Element] | None = None) -> dict:
    """The AndroidWorld JSON action for one of ours; taps on an element's centre use its index."""
    if isinstance(action, (Tap, LongPress)):
        kind = "click" if isinstance(action, Tap) else "long_press"
        for e in elements or ():
            if e.center == (action.x, action.y):
                return {"action_type": kind, "index": e.index}
        return {"action_type": kind, "x": int(action.x), "y": int(action.y)}
    if isinstance(action, Swipe):
        dx, dy = action.x2 - action.x1, action.y2 - action.y1
        if abs(dy) >= abs(dx):
            direction = "down" if dy < 0 else "up"
        else:
            direction = "right" if dx < 0 else "left"
        return {"action_type": "scroll", "direction": direction}
    if isinstance(action, Type):
        return {"action_type": "input_text", "text": action.text}
    if isinstance(action, Key):
        if action.key not in _KEYS_TO_AW:
            raise InteropError(f"AndroidWorld has no action for key {action.key}; only BACK, HOME and ENTER")
        return {"action_type": _KEYS_TO_AW[action.key]}
    if isinstance(action, OpenApp):
        return {"action_type": "open_app", "app_name": action.app}
    if isinstance(action, Wait):
        return {"action_type": "wait"}
    if isinstance(action, Terminate):
        return {"action_type": "status", "goal_status": _STATUS_TO_AW[action.status]}
    if isinstance(action, Answer):
        return {"action_type": "answer", "text": action.text}
    raise InteropError(f"not an action: {action!r}")


def _target(
    record: dict, screen_size: tuple[int, int], elements: Sequence[Element] | None
) -> tuple[int, int]:
    if record.get("index") is not None:
        return _element(record, elements).center
    x, y = record.get("x"), record.get("y")
    if not isinstance(x, (int, float)) or not isinstance(y, (int, float)) or isinstance(x, bool):
        raise InteropError(f"{record['action_type']} needs an index or x and y: {record}")
    if not (0 <= x < screen_size[0] and 0 <= y < screen_size[1]):
        raise InteropError(f"point ({x}, {y}) is outside the {screen_size[0]}x{screen_size[1]} screen")
    return int(x), int(y)


def _element(record: dict, elements: Sequence[Element] | None) -> Element:
    try:
        index = int(record["index"])
    except (TypeError, ValueError) as e:
        raise InteropError(f"index must be an integer: {record}") from e
    if not elements or not 0 <= index < len(elements):
        raise InteropError(f"index {index} is not one of the {len(elements or ())} numbered elements")
    return elements[index]


def _scroll(record: dict, screen_size: tuple[int, int], elements: Sequence[Element] | None) -> Swipe:
    if record.get("index") is not None:
        x1, y1, x2, y2 = _element(record, elements).bounds
    else:
        x1, y1, x2, y2 = 0, 0, screen_size[0] - 1, screen_size[1] - 1
    cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
    ends = {"down": (cx, y1), "up": (cx, y2), "right": (x1, cy), "left": (x2, cy)}
    direction = record.get("direction")
    if direction not in ends:
        raise InteropError(f"scroll direction must be one of {sorted(ends)}, got {direction!r}")
    return Swipe(cx, cy, *ends[direction], duration_ms=300)


def from_androidworld(
    record: dict[str, Any], screen_size: tuple[int, int], elements: Sequence[Element] | None = None
) -> list[DeviceAction | ControlAction]:
    """Our actions for one AndroidWorld JSON action (usually one; ``input_text`` on an index gives two)."""
    if not isinstance(record, dict) or "action_type" not in record:
        raise InteropError(f"an AndroidWorld action is a dict with an action_type, got {record!r}")
    kind = record["action_type"]
    try:
        if kind in ("click", "long_press"):
            x, y = _target(record, screen_size, elements)
            return [Tap(x, y) if kind == "click" else LongPress(x, y)]
        if kind == "scroll":
            return [_scroll(record, screen_size, elements)]
        if kind == "input_text":
            typed: list[DeviceAction | ControlAction] = [Type(str(record.get("text", "")))]
            if record.get("index") is not None:
                return [Tap(*_element(record, elements).center), *typed]
            return typed
        if kind in _AW_TO_KEYS:
            return [Key(_AW_TO_KEYS[kind])]
        if kind == "open_app":
            return [OpenApp(str(record.get("app_name", "")))]
        if kind == "wait":
            return [Wait(1.0)]
        if kind == "status":
            status = record.get("goal_status")
            if status not in _AW_TO_STATUS:
                raise InteropError(f"goal_status must be complete or infeasible, got {status!r}")
            return [Terminate(_AW_TO_STATUS[status])]
        if kind == "answer":
            return [Answer(str(record.get("text", "")))]
    except InvalidAction as e:
        raise InteropError(f"{kind}: {e}") from e
    raise InteropError(f"AndroidWorld action {kind!r} has no counterpart here")
