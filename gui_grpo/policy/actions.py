"""How a model writes an action as text: parsing model output into actions, and writing actions back.

Formats (``action_format``):

- ``mobile_use``: the Qwen2.5-VL tool call
  ``<tool_call>{"name": "mobile_use", "arguments": {...}}</tool_call>`` with absolute pixel coordinates
  of the resized image the model saw (default for ``qwen2_5_vl``).
- ``mobile_use_norm1000``: the same tool call with coordinates normalised to 0-1000 (default for
  ``qwen2_vl`` and ``qwen3_vl``).
- ``json``: a bare JSON object such as ``{"action": "click", "index": 3}``, coordinates in the family's
  own convention; ``index`` targets a numbered element (``emulators.elements.number_elements``).

The action set is the official Qwen2.5-VL ``mobile_use`` enum plus ``answer`` (information tasks need one).
``parse_action`` never raises on model text: anything it cannot turn into an action comes back as
``Invalid`` with a short reason. ``format_action`` is its inverse for device points a model can express.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from emulators.actions import (
    MAX_TEXT_LEN,
    Answer,
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
from gui_grpo.policy.action_space import (
    ACTION_FORMATS,
    ACTION_NAMES,
    DEFAULT_FORMATS,
    SYSTEM_BUTTONS,
    TOOL_NAME,
    ActionFormat,
    ActionFormatError,
    coord_system,
    resolve_format,
    tool_description,
    tool_schema,
)
from gui_grpo.policy.coords import ScreenMapping, mapping_for

__all__ = [
    "ACTION_FORMATS",
    "ACTION_NAMES",
    "DEFAULT_FORMATS",
    "ActionFormat",
    "ActionFormatError",
    "ActionParseError",
    "Invalid",
    "ParsedAction",
    "coord_system",
    "format_action",
    "parse_action",
    "resolve_format",
    "tool_description",
    "tool_schema",
]

_BUTTON_FOR_KEY = {key: button for button, key in SYSTEM_BUTTONS.items()}
# Longer outputs are rejected before any scanning, which keeps the worst case of parsing bounded.
MAX_OUTPUT_CHARS = 20 * MAX_TEXT_LEN
DEFAULT_LONG_PRESS_MS = 1000
MAX_NAME_CHARS = 100  # key, button and app names; longer ones are rejected with a short reason
MIN_LONG_PRESS_S, MAX_LONG_PRESS_S = 0.5, 10.0  # LongPress accepts 500-10000 ms

_SHORT_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_SHORT_REPR.maxlevel, _SHORT_REPR.maxstring, _SHORT_REPR.maxother = 3, 40, 40

ParsedAction = Tap | LongPress | Swipe | Type | Key | OpenApp | Wait | Terminate | Answer


class ActionParseError(ValueError):
    """Model text that is not exactly one well-formed action; the message is the short reason."""


@dataclass(frozen=True)
class Invalid:
    """Model output that is not a usable action: why, and the text as the model wrote it."""

    reason: str
    raw: str


def _mapping(
    family: str, fmt: str, image_size: tuple[int, int], screen_size: tuple[int, int]
) -> ScreenMapping:
    return mapping_for(family, screen_size, image_size, coord_system(family, fmt))


# -- parsing ---------------------------------------------------------------------------------------------


def parse_action(
    text: str,
    *,
    family: str,
    image_size: tuple[int, int],
    screen_size: tuple[int, int],
    elements: Sequence[Element] | None = None,
    action_format: str | None = None,
) -> ParsedAction | Invalid:
    """The one action in a model's output, in device pixels, or ``Invalid`` saying why there is none.

    ``image_size`` is the (width, height) of the resized image the model saw, ``screen_size`` the
    device's. Text around the action (reasoning, ``<think>`` blocks) is ignored. Never raises on
    ``text``; an unknown ``family`` or ``action_format`` or a bad size raises (a caller's mistake).
    """
    fmt = resolve_format(family, action_format)
    mapping = _mapping(family, fmt, image_size, screen_size)
    if not isinstance(text, str):
        return Invalid("output is not text", repr(text))
    try:
        arguments = _extract_arguments(text, fmt)
        return _build_action(arguments, mapping, elements)
    except (ActionParseError, InvalidAction) as e:
        return Invalid(str(e), text)


def _strip_reasoning(text: str) -> str:
    """What follows the reasoning: the text after the last ``</think>``, if there is one."""
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        raise ActionParseError("<think> block never closed (output truncated?)")
    return text


def _extract_arguments(text: str, fmt: str) -> dict:
    if not text.strip():
        raise ActionParseError("empty output")
    if len(text) > MAX_OUTPUT_CHARS:
        raise ActionParseError(f"output is {len(text)} characters; the limit is {MAX_OUTPUT_CHARS}")
    body = _strip_reasoning(text)
    if fmt == "json":
        return _single_json_action(body)
    return _tool_call_arguments(body)


def _load_json(text: str, what: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ActionParseError(f"{what} is not valid JSON: {str(e)[:80]}") from None


def _tool_call_arguments(body: str) -> dict:
    opens = body.count("<tool_call>")
    if opens == 0:
        raise ActionParseError("no <tool_call> in output")
    if opens > 1:
        raise ActionParseError(f"{opens} tool calls; exactly one is allowed")
    inner = body.split("<tool_call>", 1)[1]
    if "</tool_call>" not in inner:
        raise ActionParseError("<tool_call> never closed (output truncated?)")
    call = _load_json(inner.split("</tool_call>", 1)[0].strip(), "tool call")
    if not isinstance(call, dict):
        raise ActionParseError("tool call is not a JSON object")
    if call.get("name") != TOOL_NAME:
        raise ActionParseError(f"unknown tool {_short(call.get('name'))}; expected {TOOL_NAME!r}")
    arguments = call.get("arguments")
    if isinstance(arguments, str):  # some chat templates pass arguments as a JSON string
        arguments = _load_json(arguments, "tool call arguments")
    if not isinstance(arguments, dict):
        raise ActionParseError("tool call has no arguments object")
    return arguments


def _json_objects(body: str) -> list[object]:
    """Every top-level JSON value that starts with ``{`` somewhere in ``body``."""
    decoder = json.JSONDecoder()
    found: list[object] = []
    i = body.find("{")
    while i >= 0:
        try:
            value, end = decoder.raw_decode(body, i)
        except (ValueError, RecursionError):
            i = body.find("{", i + 1)
            continue
        found.append(value)
        i = body.find("{", end)
    return found


def _single_json_action(body: str) -> dict:
    actions = [v for v in _json_objects(body) if isinstance(v, dict) and "action" in v]
    if not actions:
        raise ActionParseError("no JSON object with an 'action' key (broken or truncated JSON?)")
    if len(actions) > 1:
        raise ActionParseError(f"{len(actions)} actions; exactly one is allowed")
    return actions[0]


@dataclass(frozen=True)
class _Context:
    action: str
    mapping: ScreenMapping
    elements: Sequence[Element] | None


def _build_action(
    arguments: dict, mapping: ScreenMapping, elements: Sequence[Element] | None
) -> ParsedAction:
    name = arguments.get("action")
    if not isinstance(name, str):
        raise ActionParseError("missing action name")
    build = _BUILDERS.get(name.strip().lower())
    if build is None:
        raise ActionParseError(f"unknown action {_short(name)}; expected one of {', '.join(ACTION_NAMES)}")
    return build(arguments, _Context(name.strip().lower(), mapping, elements))


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ActionParseError(f"{what} must be a number, got {_short(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise ActionParseError(f"{what} is too large") from None
    if not math.isfinite(number):
        raise ActionParseError(f"{what} must be finite, got {_short(value)}")
    return number


def _short(value: object) -> str:
    """A bounded repr: model output can hold long strings and deeply nested lists."""
    return _SHORT_REPR.repr(value)


def _point(arguments: dict, key: str, ctx: _Context) -> tuple[int, int]:
    value = arguments.get(key)
    if value is None:
        raise ActionParseError(f"{ctx.action} needs {key} [x, y]")
    if not isinstance(value, list) or len(value) != 2:
        raise ActionParseError(f"{key} must be [x, y], got {_short(value)}")
    mx, my = (_number(v, key) for v in value)
    x, y = ctx.mapping.to_device(mx, my)
    if not ctx.mapping.on_screen(x, y):
        raise ActionParseError(f"{key} {_short(value)} is outside the screen")
    return ctx.mapping.device_pixel(x, y)


def _element_center(index: object, ctx: _Context) -> tuple[int, int]:
    if not ctx.elements:
        raise ActionParseError("index given but no elements were listed")
    if isinstance(index, bool) or not isinstance(index, int):
        raise ActionParseError(f"index must be an integer, got {_short(index)}")
    by_index = {e.index: e for e in ctx.elements}
    if index not in by_index:
        raise ActionParseError(f"no element with index {index} (listed: 0..{len(ctx.elements) - 1})")
    x, y = by_index[index].center
    sw, sh = ctx.mapping.screen_size
    if not (0 <= x < sw and 0 <= y < sh):
        raise ActionParseError(f"element {index} has its centre off the screen")
    return x, y


def _target(arguments: dict, ctx: _Context) -> tuple[int, int]:
    """The point of a click or long press: ``coordinate`` or an element ``index``, not both."""
    if "index" in arguments:
        if "coordinate" in arguments:
            raise ActionParseError(f"{ctx.action} takes coordinate or index, not both")
        return _element_center(arguments["index"], ctx)
    return _point(arguments, "coordinate", ctx)


def _text(arguments: dict, ctx: _Context, key: str = "text") -> str:
    value = arguments.get(key)
    if not isinstance(value, str):
        raise ActionParseError(f"{ctx.action} needs {key} as a string")
    return value


def _build_long_press(arguments: dict, ctx: _Context) -> LongPress:
    x, y = _target(arguments, ctx)
    seconds = arguments.get("time")
    if seconds is None:
        return LongPress(x, y, DEFAULT_LONG_PRESS_MS)
    seconds = _number(seconds, "time")
    if not MIN_LONG_PRESS_S <= seconds <= MAX_LONG_PRESS_S:  # checked before * 1000 can overflow
        limits = f"{MIN_LONG_PRESS_S:g} and {MAX_LONG_PRESS_S:g} s"
        raise ActionParseError(f"long press time must be between {limits}, got {seconds:g}")
    return LongPress(x, y, round(seconds * 1000))


def _build_swipe(arguments: dict, ctx: _Context) -> Swipe:
    return Swipe(*_point(arguments, "coordinate", ctx), *_point(arguments, "coordinate2", ctx))


def _build_system_button(arguments: dict, ctx: _Context) -> Key:
    button = _text(arguments, ctx, "button")
    for name, key in SYSTEM_BUTTONS.items():
        if button.strip().lower() == name.lower():
            return Key(key)
    raise ActionParseError(f"unknown button {_short(button)}; expected one of {', '.join(SYSTEM_BUTTONS)}")


def _build_key(arguments: dict, ctx: _Context) -> Key:
    name = _text(arguments, ctx)
    if len(name) > MAX_NAME_CHARS:
        raise ActionParseError(f"unknown key {_short(name)}")
    try:
        return Key(name)
    except InvalidAction:
        raise
    except ValueError:  # keycode_number's int() refuses some digit strings (superscripts, 5000 digits)
        raise ActionParseError(f"unknown key {_short(name)}") from None


def _build_wait(arguments: dict, ctx: _Context) -> Wait:
    seconds = arguments.get("time")
    return Wait() if seconds is None else Wait(_number(seconds, "time"))


def _build_terminate(arguments: dict, ctx: _Context) -> Terminate:
    status = _text(arguments, ctx, "status").strip().lower()
    if status not in ("success", "failure"):
        raise ActionParseError(f"terminate status must be 'success' or 'failure', got {_short(status)}")
    return Terminate(status)  # type: ignore[arg-type]


def _build_open(arguments: dict, ctx: _Context) -> OpenApp:
    app = _text(arguments, ctx)
    if not app.strip() or len(app) > MAX_NAME_CHARS:
        raise ActionParseError(f"open needs an app name, got {_short(app)}")
    return OpenApp(app)


_BUILDERS: dict[str, Callable[[dict, _Context], ParsedAction]] = {
    "click": lambda a, ctx: Tap(*_target(a, ctx)),
    "long_press": _build_long_press,
    "swipe": _build_swipe,
    "type": lambda a, ctx: Type(_text(a, ctx)),
    "key": _build_key,
    "system_button": _build_system_button,
    "open": _build_open,
    "wait": _build_wait,
    "terminate": _build_terminate,
    "answer": lambda a, ctx: Answer(_text(a, ctx)),
}


# -- formatting ------------------------------------------------------------------------------------------


def format_action(
    action: ParsedAction,
    *,
    family: str,
    image_size: tuple[int, int],
    screen_size: tuple[int, int],
    action_format: str | None = None,
    elements: Sequence[Element] | None = None,
    prefer_index: bool = True,
) -> str:
    """``action`` written as the model would write it; ``parse_action`` reads it back.

    Device points become whole model units, so points a model cannot express come back within half a
    model unit. In the json format with ``elements``, a click or long press on an element's centre is
    written as its index when ``prefer_index``. A swipe's duration is not part of the action set and
    is dropped. Raises ``ActionFormatError`` for a point off the screen or a non-action.
    """
    fmt = resolve_format(family, action_format)
    mapping = _mapping(family, fmt, image_size, screen_size)
    index_of = _index_of(elements) if fmt == "json" and elements and prefer_index else {}
    arguments = _arguments_of(action, mapping, index_of)
    if fmt == "json":
        return _dumps(arguments)
    return f"<tool_call>\n{_dumps({'name': TOOL_NAME, 'arguments': arguments})}\n</tool_call>"


def _dumps(value: dict) -> str:
    """JSON with ``<`` escaped: a typed ``</tool_call>`` or ``</think>`` must not end the call early.

    Outside strings JSON has no ``<``, so the escape only ever touches string contents.
    """
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def _index_of(elements: Sequence[Element]) -> dict[tuple[int, int], int]:
    """Element centre -> the lowest index of an element centred there."""
    index_of: dict[tuple[int, int], int] = {}
    for element in sorted(elements, key=lambda e: e.index):
        index_of.setdefault(element.center, element.index)
    return index_of


def _model_point(mapping: ScreenMapping, x: int, y: int) -> list[int]:
    sw, sh = mapping.screen_size
    if not (0 <= x < sw and 0 <= y < sh):
        raise ActionFormatError(f"point ({x}, {y}) is outside the {sw}x{sh} screen")
    return list(mapping.model_point(x, y))


def _target_arguments(mapping: ScreenMapping, x: int, y: int, index_of: dict) -> dict:
    if (x, y) in index_of:
        return {"index": index_of[(x, y)]}
    return {"coordinate": _model_point(mapping, x, y)}


def _arguments_of(action: object, mapping: ScreenMapping, index_of: dict) -> dict:
    if isinstance(action, Tap):
        return {"action": "click", **_target_arguments(mapping, action.x, action.y, index_of)}
    if isinstance(action, LongPress):
        target = _target_arguments(mapping, action.x, action.y, index_of)
        return {"action": "long_press", **target, "time": action.duration_ms / 1000}
    if isinstance(action, Swipe):
        start = _model_point(mapping, action.x1, action.y1)
        end = _model_point(mapping, action.x2, action.y2)
        return {"action": "swipe", "coordinate": start, "coordinate2": end}
    if isinstance(action, Type):
        return {"action": "type", "text": action.text}
    if isinstance(action, Key):
        if action.key in _BUTTON_FOR_KEY:
            return {"action": "system_button", "button": _BUTTON_FOR_KEY[action.key]}
        return {"action": "key", "text": action.key.lower()}
    if isinstance(action, OpenApp):
        return {"action": "open", "text": action.app}
    if isinstance(action, Wait):
        return {"action": "wait", "time": action.seconds}
    if isinstance(action, Terminate):
        return {"action": "terminate", "status": action.status}
    if isinstance(action, Answer):
        return {"action": "answer", "text": action.text}
    raise ActionFormatError(f"not an action: {action!r}")
