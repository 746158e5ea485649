"""The text a system prompt uses to declare the action set, per family and action format.

For the ``mobile_use`` formats this is the Qwen2.5-VL mobile agent's ``mobile_use`` function (its JSON
schema, action enum and screen resolution) in the ``# Tools`` block Qwen chat templates write, so released
checkpoints see the prompt they were trained on. Two departures, both stated in the text the model reads:
``answer`` is added to the enum, and ``index`` is offered when numbered elements are shown.
"""

from __future__ import annotations

import json
from typing import Literal

from gui_grpo.policy.coords import NORM_RANGE, CoordSystem, family_spec

ActionFormat = Literal["mobile_use", "mobile_use_norm1000", "json"]
ACTION_FORMATS: tuple[str, ...] = ("mobile_use", "mobile_use_norm1000", "json")
DEFAULT_FORMATS: dict[str, ActionFormat] = {
    "qwen2_5_vl": "mobile_use",
    "qwen2_vl": "mobile_use_norm1000",
    "qwen3_vl": "mobile_use_norm1000",
}
TOOL_NAME = "mobile_use"
# The official Qwen2.5-VL mobile_use enum, then our addition.
OFFICIAL_ACTIONS: tuple[str, ...] = (
    "key",
    "click",
    "long_press",
    "swipe",
    "type",
    "system_button",
    "open",
    "wait",
    "terminate",
)
ACTION_NAMES: tuple[str, ...] = (*OFFICIAL_ACTIONS, "answer")
SYSTEM_BUTTONS: dict[str, str] = {"Back": "BACK", "Home": "HOME", "Menu": "MENU", "Enter": "ENTER"}


class ActionFormatError(ValueError):
    """An action, family or format that cannot be written as model text."""


def resolve_format(family: str, action_format: str | None = None) -> ActionFormat:
    """The action format to use for ``family``; raise ``ActionFormatError`` for unknown names."""
    if family not in DEFAULT_FORMATS:
        raise ActionFormatError(f"unknown model family {family!r}; known: {', '.join(DEFAULT_FORMATS)}")
    if action_format is None:
        return DEFAULT_FORMATS[family]
    if action_format not in ACTION_FORMATS:
        raise ActionFormatError(
            f"unknown action format {action_format!r}; known: {', '.join(ACTION_FORMATS)}"
        )
    return action_format  # type: ignore[return-value]


def coord_system(family: str, action_format: str | None = None) -> CoordSystem:
    """How points are written in ``action_format``: the tool-call formats fix it, json follows the family."""
    fmt = resolve_format(family, action_format)
    if fmt == "mobile_use":
        return "absolute"
    if fmt == "mobile_use_norm1000":
        return "norm1000"
    return family_spec(family).coords


_ACTION_LINES = {
    "key": "`key`: Perform a key event on the mobile device.\n    - This supports adb's `keyevent` syntax.\n"
    '    - Examples: "volume_up", "volume_down", "power", "camera", "clear".',
    "click": "`click`: Click the point on the screen with coordinate (x, y).",
    "long_press": "`long_press`: Press the point on the screen with coordinate (x, y) for specified seconds.",
    "swipe": "`swipe`: Swipe from the starting point with coordinate (x, y) to the end point with "
    "coordinates2 (x2, y2).",
    "type": "`type`: Input the specified text into the activated input box.",
    "system_button": "`system_button`: Press the system button.",
    "open": "`open`: Open an app on the device.",
    "wait": "`wait`: Wait specified seconds for the change to happen.",
    "terminate": "`terminate`: Terminate the current task and report its completion status.",
    "answer": "`answer`: Answer the user's question with the text (an addition to the standard mobile_use "
    "actions, for tasks that ask for information).",
}
_PIXELS = (
    "(x, y): The x (pixels from the left edge) and y (pixels from the top edge) coordinates to move the "
    "mouse to."
)
_NORMALISED = (
    f"(x, y): The x and y coordinates normalised to 0-{NORM_RANGE}: (0, 0) is the top-left corner and "
    f"({NORM_RANGE}, {NORM_RANGE}) the bottom-right corner of the screen."
)
_TOOLS_HEADER = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
)
_TOOLS_FOOTER = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": '
    "<args-json-object>}\n</tool_call>"
)


def _resolution(family: str, action_format: str | None, image_size: tuple[int, int]) -> tuple[int, int]:
    if coord_system(family, action_format) == "absolute":
        return image_size
    return NORM_RANGE, NORM_RANGE


def _description(width: int, height: int, normalised: bool) -> str:
    lines = [
        "Use a touchscreen to interact with a mobile device, and take screenshots.",
        "* This is an interface to a mobile device with touchscreen. You can perform actions like clicking, "
        "typing, swiping, etc.",
        "* Some applications may take time to start or process actions, so you may need to wait and take "
        "successive screenshots to see the results of your actions.",
        f"* The screen's resolution is {width}x{height}.",
    ]
    if normalised:
        lines.append(
            f"* Coordinates are normalised to 0-{NORM_RANGE} on both axes, whatever the screen size."
        )
    lines.append(
        "* Make sure to click any buttons, links, icons, etc with the cursor tip in the center of the "
        "element. Don't click boxes on their edges unless asked."
    )
    return "\n".join(lines)


def tool_schema(
    family: str, action_format: str | None, image_size: tuple[int, int], *, with_elements: bool = False
) -> dict:
    """The ``mobile_use`` function as a chat template's ``tools=[...]`` entry."""
    width, height = _resolution(family, action_format, image_size)
    normalised = coord_system(family, action_format) == "norm1000"
    point = _NORMALISED if normalised else _PIXELS
    actions = "The action to perform. The available actions are:\n" + "\n".join(
        f"* {_ACTION_LINES[name]}" for name in ACTION_NAMES
    )
    properties: dict[str, dict] = {
        "action": {"description": actions, "enum": list(ACTION_NAMES), "type": "string"},
        "coordinate": {
            "description": f"{point} Required only by `action=click`, `action=long_press`, and "
            "`action=swipe`.",
            "type": "array",
        },
        "coordinate2": {"description": f"{point} Required only by `action=swipe`.", "type": "array"},
        "text": {
            "description": "Required only by `action=key`, `action=type`, `action=open`, and "
            "`action=answer`.",
            "type": "string",
        },
        "time": {
            "description": "The seconds to wait. Required only by `action=long_press` and `action=wait`.",
            "type": "number",
        },
        "button": {
            "description": "Back means returning to the previous interface, Home means returning to the "
            "desktop, Menu means opening the application background menu, and Enter means pressing the "
            "enter. Required only by `action=system_button`",
            "enum": list(SYSTEM_BUTTONS),
            "type": "string",
        },
        "status": {
            "description": "The status of the task. Required only by `action=terminate`.",
            "type": "string",
            "enum": ["success", "failure"],
        },
    }
    if with_elements:
        properties["index"] = {
            "description": "The number of a listed screen element; `action=click` and `action=long_press` "
            "may give it instead of `coordinate` (an addition to the standard mobile_use arguments).",
            "type": "integer",
        }
    parameters = {"properties": properties, "required": ["action"], "type": "object"}
    description = _description(width, height, normalised)
    function = {"name": TOOL_NAME, "description": description, "parameters": parameters}
    return {"type": "function", "function": function}


def _json_description(
    family: str, action_format: str | None, image_size: tuple[int, int], with_elements: bool
) -> str:
    width, height = _resolution(family, action_format, image_size)
    if coord_system(family, action_format) == "norm1000":
        where = (
            f"Coordinates [x, y] are normalised to 0-{NORM_RANGE} on both axes (a {width}x{height} screen)."
        )
    else:
        where = f"Coordinates [x, y] are pixels of the {width}x{height} screenshot, from its top-left corner."
    target = '"coordinate": [x, y]' + (' or "index": i' if with_elements else "")
    lines = [
        "Answer with exactly one JSON action object. The actions are:",
        f'{{"action": "click", {target}}}',
        f'{{"action": "long_press", {target}, "time": seconds}}',
        '{"action": "swipe", "coordinate": [x, y], "coordinate2": [x2, y2]}',
        '{"action": "type", "text": "..."}',
        '{"action": "key", "text": "volume_up"}',
        '{"action": "system_button", "button": "Back|Home|Menu|Enter"}',
        '{"action": "open", "text": "app name"}',
        '{"action": "wait", "time": seconds}',
        '{"action": "terminate", "status": "success|failure"}',
        '{"action": "answer", "text": "..."}',
        where,
    ]
    if with_elements:
        lines.append("An index i targets the centre of the listed screen element numbered i.")
    return "\n".join(lines)


def tool_description(
    family: str, action_format: str | None, image_size: tuple[int, int], *, with_elements: bool = False
) -> str:
    """The system-prompt text that declares the action set, its coordinates and the screen resolution.

    ``image_size`` is the (width, height) of the resized image the model sees; normalised formats
    declare a 1000x1000 screen instead.
    """
    if resolve_format(family, action_format) == "json":
        return _json_description(family, action_format, image_size, with_elements)
    schema = tool_schema(family, action_format, image_size, with_elements=with_elements)
    return _TOOLS_HEADER + json.dumps(schema, ensure_ascii=False) + _TOOLS_FOOTER
