"""Model text <-> actions: every format and family, every malformed case, fuzzing, and round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emulators.actions import (
    KEYCODES,
    MAX_TEXT_LEN,
    MAX_WAIT_S,
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
from gui_grpo.policy.actions import (
    ACTION_NAMES,
    ActionFormatError,
    Invalid,
    coord_system,
    format_action,
    parse_action,
    resolve_format,
)
from gui_grpo.policy.coords import FAMILIES, ScreenMapping, family_spec, resized_image_size, round_half_up

SCREEN = (1080, 2400)
IMAGE = (540, 1200)  # half the screen in each direction: model pixel (x, y) is device pixel (2x, 2y)
FAMILIES_ = sorted(FAMILIES)
ACTION_TYPES = (Tap, LongPress, Swipe, Type, Key, OpenApp, Wait, Terminate, Answer)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ELEMENTS = [
    Element(
        0, "Wi-Fi", "", "android:id/switch", "android.widget.Switch", (40, 300, 1040, 420), clickable=True
    ),
    Element(1, "", "Search", "app:id/search", "android.widget.ImageButton", (900, 100, 1000, 200)),
    Element(2, "Name", "", "app:id/name", "android.widget.EditText", (40, 600, 1040, 700), editable=True),
]


def call(arguments: dict) -> str:
    return "<tool_call>\n" + json.dumps({"name": "mobile_use", "arguments": arguments}) + "\n</tool_call>"


def parse(text: str, **kw: object) -> object:
    kw = {"family": "qwen2_5_vl", "image_size": IMAGE, "screen_size": SCREEN, **kw}
    return parse_action(text, **kw)  # type: ignore[arg-type]


# -- valid outputs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"action": "click", "coordinate": [270, 600]}, Tap(540, 1200)),
        ({"action": "click", "coordinate": [0, 0]}, Tap(0, 0)),
        ({"action": "click", "coordinate": [540, 1200]}, Tap(1079, 2399)),  # far edge folds onto last pixel
        ({"action": "click", "coordinate": [100.4, 200.6]}, Tap(201, 401)),
        ({"action": "long_press", "coordinate": [10, 20]}, LongPress(20, 40, 1000)),
        ({"action": "long_press", "coordinate": [10, 20], "time": 2.5}, LongPress(20, 40, 2500)),
        (
            {"action": "swipe", "coordinate": [270, 900], "coordinate2": [270, 300]},
            Swipe(540, 1800, 540, 600),
        ),
        ({"action": "type", "text": "Ana Díaz"}, Type("Ana Díaz")),
        ({"action": "key", "text": "volume_up"}, Key("VOLUME_UP")),
        ({"action": "key", "text": "KEYCODE_DEL"}, Key("DEL")),
        ({"action": "system_button", "button": "Back"}, Key("BACK")),
        ({"action": "system_button", "button": "Home"}, Key("HOME")),
        ({"action": "system_button", "button": "menu"}, Key("MENU")),
        ({"action": "system_button", "button": "Enter"}, Key("ENTER")),
        ({"action": "open", "text": "Contacts"}, OpenApp("Contacts")),
        ({"action": "wait", "time": 2}, Wait(2)),
        ({"action": "wait"}, Wait(1.0)),
        ({"action": "terminate", "status": "success"}, Terminate("success")),
        ({"action": "terminate", "status": "failure"}, Terminate("failure")),
        ({"action": "answer", "text": "+34 600 111 222"}, Answer("+34 600 111 222")),
        ({"action": "CLICK", "coordinate": [1, 1], "extra": "ignored"}, Tap(2, 2)),
    ],
)
def test_mobile_use_actions(arguments: dict, expected: object) -> None:
    assert parse(call(arguments)) == expected


@pytest.mark.parametrize(
    ("family", "action_format", "point", "expected"),
    [
        ("qwen2_5_vl", None, [270, 600], Tap(540, 1200)),
        ("qwen2_vl", None, [500, 500], Tap(540, 1200)),
        ("qwen3_vl", None, [500, 500], Tap(540, 1200)),
        ("qwen3_vl", "mobile_use", [270, 600], Tap(540, 1200)),
        ("qwen2_5_vl", "mobile_use_norm1000", [250, 250], Tap(270, 600)),
        ("qwen2_5_vl", "mobile_use_norm1000", [1000, 1000], Tap(1079, 2399)),
    ],
)
def test_each_family_uses_its_coordinates(
    family: str, action_format: str | None, point: list, expected: Tap
) -> None:
    text = call({"action": "click", "coordinate": point})
    assert parse(text, family=family, action_format=action_format) == expected


@pytest.mark.parametrize(
    ("family", "text", "expected"),
    [
        ("qwen2_5_vl", '{"action": "click", "coordinate": [270, 600]}', Tap(540, 1200)),
        ("qwen3_vl", '{"action": "click", "coordinate": [500, 500]}', Tap(540, 1200)),
        ("qwen2_vl", 'Thought: tap search.\n```json\n{"action": "click", "index": 1}\n```', Tap(950, 150)),
        ("qwen2_5_vl", '{"action": "long_press", "index": 0, "time": 1}', LongPress(540, 360, 1000)),
        ("qwen2_5_vl", '{"action": "type", "text": "{not json}"}', Type("{not json}")),
        ("qwen3_vl", '{"action": "system_button", "button": "Back"} done', Key("BACK")),
    ],
)
def test_json_format(family: str, text: str, expected: object) -> None:
    assert parse(text, family=family, action_format="json", elements=ELEMENTS) == expected


def test_index_in_a_tool_call_targets_the_element_centre() -> None:
    assert parse(call({"action": "click", "index": 2}), elements=ELEMENTS) == Tap(540, 650)


@pytest.mark.parametrize(
    "text",
    [
        "<think>The search icon is top right.</think>\n" + call({"action": "click", "coordinate": [475, 75]}),
        "I should search.\n</think>\n\n" + call({"action": "click", "coordinate": [475, 75]}),
        "Thought: I tap search.\nAction: " + call({"action": "click", "coordinate": [475, 75]}) + "\nDone.",
        "<think>maybe <tool_call> here?</think>" + call({"action": "click", "coordinate": [475, 75]}),
        '<tool_call>{"name": "mobile_use", "arguments": '
        '"{\\"action\\": \\"click\\", \\"coordinate\\": [475, 75]}"}</tool_call>',
    ],
)
def test_text_around_one_tool_call_is_ignored(text: str) -> None:
    assert parse(text) == Tap(950, 150)


# -- malformed outputs -------------------------------------------------------------------------------------

MALFORMED = [
    ("", "empty"),
    ("   \n", "empty"),
    ("I will tap the button.", "no <tool_call>"),
    ('<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coor', "never closed"),
    ("<think>still thinking", "never closed"),
    (call({"action": "wait"}) + call({"action": "wait"}), "2 tool calls"),
    ('<tool_call>{"name": "mobile_use", "arguments": {"action": "click",}}</tool_call>', "not valid JSON"),
    ("<tool_call>[1, 2]</tool_call>", "not a JSON object"),
    ('<tool_call>{"name": "computer_use", "arguments": {"action": "click"}}</tool_call>', "unknown tool"),
    ('<tool_call>{"name": "mobile_use"}</tool_call>', "no arguments"),
    ('<tool_call>{"name": "mobile_use", "arguments": [1]}</tool_call>', "no arguments"),
    (call({"coordinate": [1, 2]}), "missing action"),
    (call({"action": 3}), "missing action"),
    (call({"action": "double_tap", "coordinate": [1, 2]}), "unknown action"),
    (call({"action": "system_button", "button": "Recents"}), "unknown button"),
    (call({"action": "system_button"}), "needs button"),
    (call({"action": "key", "text": "clear"}), "unknown keycode"),
    (call({"action": "click"}), "needs coordinate"),
    (call({"action": "click", "coordinate": [1]}), "must be [x, y]"),
    (call({"action": "click", "coordinate": "[1, 2]"}), "must be [x, y]"),
    (call({"action": "click", "coordinate": {"x": 1, "y": 2}}), "must be [x, y]"),
    (call({"action": "click", "coordinate": ["10", "20"]}), "must be a number"),
    (call({"action": "click", "coordinate": [True, 20]}), "must be a number"),
    (call({"action": "click", "coordinate": [None, 20]}), "must be a number"),
    (
        call({"action": "click", "coordinate": ["NAN", 1]}).replace('"NAN"', "NaN"),
        "finite",
    ),
    (
        call({"action": "click", "coordinate": ["INF", 1]}).replace('"INF"', "1e999"),
        "finite",
    ),
    (call({"action": "click", "coordinate": [10**400, 1]}), "too large"),
    (call({"action": "click", "coordinate": [541, 10]}), "outside the screen"),
    (call({"action": "click", "coordinate": [10, -1]}), "outside the screen"),
    (call({"action": "swipe", "coordinate": [10, 10]}), "needs coordinate2"),
    (call({"action": "swipe", "coordinate": [10, 10], "coordinate2": [10, 1201]}), "outside the screen"),
    (call({"action": "click", "index": 1}), "no elements"),
    (call({"action": "type", "text": "x" * (MAX_TEXT_LEN + 1)}), "limit"),
    (call({"action": "type", "text": ""}), "non-empty"),
    (call({"action": "type", "text": 5}), "needs text"),
    (call({"action": "open", "text": " "}), "app name"),
    (call({"action": "open", "text": "a" * 5000}), "app name"),
    (call({"action": "key", "text": "b" * 5000}), "unknown key"),
    (call({"action": "key", "text": "²"}), "unknown key"),
    (call({"action": "terminate", "status": "c" * 5000}), "terminate status"),
    (call({"action": "wait", "time": MAX_WAIT_S + 1}), "wait must be between"),
    (call({"action": "wait", "time": -1}), "wait must be between"),
    (call({"action": "wait", "time": "5"}), "must be a number"),
    (call({"action": "long_press", "coordinate": [1, 1], "time": 0.1}), "long press time"),
    (call({"action": "long_press", "coordinate": [1, 1], "time": 1e308}), "long press time"),
    (call({"action": "long_press", "coordinate": [1, 1], "time": 10**400}), "too large"),
    (call({"action": "terminate", "status": "done"}), "terminate status"),
    (call({"action": "terminate"}), "needs status"),
    (call({"action": "answer"}), "needs text"),
    ("x" * 30_000 + call({"action": "wait"}), "the limit is"),
]


@pytest.mark.parametrize(("text", "reason"), MALFORMED)
def test_malformed_outputs_are_invalid_with_a_reason(text: str, reason: str) -> None:
    result = parse(text)
    assert isinstance(result, Invalid), result
    assert reason in result.reason
    assert len(result.reason) < 400
    assert result.raw == text


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"action": "click", "index": 3}, "no element with index 3"),
        ({"action": "click", "index": -1}, "no element with index -1"),
        ({"action": "click", "index": "1"}, "must be an integer"),
        ({"action": "click", "index": True}, "must be an integer"),
        ({"action": "click", "index": 1.0}, "must be an integer"),
        ({"action": "click", "index": 1, "coordinate": [1, 1]}, "not both"),
    ],
)
def test_bad_element_indices(arguments: dict, reason: str) -> None:
    for text in (call(arguments), json.dumps(arguments)):
        fmt = "json" if text.startswith("{") else None
        result = parse(text, elements=ELEMENTS, action_format=fmt)
        assert isinstance(result, Invalid) and reason in result.reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no json here", "no JSON object"),
        ('{"action": "click", "coordinate": [1, 2]', "no JSON object"),
        ('{"click": [1, 2]}', "no JSON object"),
        ('{"action": "wait"} {"action": "wait"}', "2 actions"),
        ('{"action": "wait", "then": {"action": "wait"}}', None),  # nested: still one action
    ],
)
def test_json_format_malformed(text: str, reason: str | None) -> None:
    result = parse(text, action_format="json")
    if reason is None:
        assert result == Wait()
    else:
        assert isinstance(result, Invalid) and reason in result.reason


def test_unknown_family_or_format_is_a_caller_error() -> None:
    with pytest.raises(ActionFormatError, match="unknown model family"):
        parse("", family="llava")
    with pytest.raises(ActionFormatError, match="unknown action format"):
        parse("", action_format="xml")
    assert resolve_format("qwen2_5_vl") == "mobile_use"
    assert resolve_format("qwen3_vl") == resolve_format("qwen2_vl") == "mobile_use_norm1000"
    assert coord_system("qwen3_vl", "json") == "norm1000" and coord_system("qwen2_5_vl", "json") == "absolute"


# -- fuzzing: parse_action never raises --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
points = st.lists(
    st.integers(-10, 1200) | st.floats(allow_nan=True, allow_infinity=True), min_size=2, max_size=2
)
action_arguments = st.fixed_dictionaries(
    {"action": st.sampled_from(ACTION_NAMES) | json_values},
    optional={
        "coordinate": points | json_values,
        "coordinate2": points | json_values,
        "index": st.integers(-2, 5) | json_values,
        "text": st.text(max_size=30) | json_values,
        "time": st.floats() | st.integers() | st.sampled_from([1e308, -1e308, 0.4999, 10.0001]) | json_values,
        "button": st.sampled_from(["Back", "home", "Recents"]) | json_values,
        "status": st.sampled_from(["success", "failure", "done"]) | json_values,
    },
)
fragments = st.lists(
    st.sampled_from(
        [
            "<tool_call>",
            "</tool_call>",
            "<think>",
            "</think>",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "1",
            "-3.5",
            "1e999",
            '"action"',
            '"click"',
            '"coordinate"',
            '"name"',
            '"mobile_use"',
            '"arguments"',
            '"index"',
            "Thought:",
            " ",
            "\n",
            '"',
            "\\",
        ]
    ),
    max_size=40,
).map("".join)


def assert_well_formed(result: object, screen: tuple[int, int] = SCREEN) -> None:
    assert isinstance(result, (Invalid, *ACTION_TYPES)), result
    if isinstance(result, Invalid):
        assert isinstance(result.reason, str) and 0 < len(result.reason) < 500
        return
    for name in ("x", "y", "x1", "y1", "x2", "y2"):
        if hasattr(result, name):
            limit = screen[0] if name.startswith("x") else screen[1]
            assert 0 <= getattr(result, name) < limit


@FUZZ
@given(text=st.text() | fragments, family=st.sampled_from(FAMILIES_), fmt=st.sampled_from([None, "json"]))
def test_fuzz_text_never_raises(text: str, family: str, fmt: str | None) -> None:
    assert_well_formed(parse(text, family=family, action_format=fmt, elements=ELEMENTS))


@FUZZ
@given(
    payload=action_arguments | json_values,
    wrap=st.sampled_from(["tool_call", "tool_call_any", "bare"]),
    family=st.sampled_from(FAMILIES_),
    with_elements=st.booleans(),
)
def test_fuzz_json_inside_tool_calls_never_raises(
    payload: object, wrap: str, family: str, with_elements: bool
) -> None:
    if wrap == "tool_call":
        text, fmt = call(payload), None  # type: ignore[arg-type]
    elif wrap == "tool_call_any":
        text, fmt = f"<tool_call>\n{json.dumps(payload)}\n</tool_call>", None
    else:
        text, fmt = json.dumps(payload), "json"
    result = parse(text, family=family, action_format=fmt, elements=ELEMENTS if with_elements else None)
    assert_well_formed(result)


def test_deeply_nested_json_is_invalid_not_an_error() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    assert isinstance(parse(f"<tool_call>{deep}</tool_call>"), Invalid)
    nested = '{"a":' * 5000 + "1" + "}" * 5000
    assert isinstance(parse(nested, action_format="json"), Invalid)


# -- format -> parse round trip ----------------------------------------------------------------------------


@st.composite
def setups(draw: st.DrawFn) -> dict:
    family = draw(st.sampled_from(FAMILIES_))
    fmt = draw(st.sampled_from([None, "mobile_use", "mobile_use_norm1000", "json"]))
    screen = (draw(st.integers(200, 3200)), draw(st.integers(200, 3200)))
    factor = family_spec(family).factor
    max_pixels = draw(st.sampled_from([128, 512, 2048])) * factor**2
    image = resized_image_size(family, screen, 4 * factor**2, max_pixels)
    return {"family": family, "action_format": fmt, "screen_size": screen, "image_size": image}


def device_point(draw: st.DrawFn, setup: dict, representable: bool) -> tuple[int, int]:
    width, height = setup["screen_size"]
    if not representable:
        return draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
    coords = coord_system(setup["family"], setup["action_format"])
    mapping = ScreenMapping(setup["screen_size"], setup["image_size"], coords)
    ex, ey = mapping.model_extent
    x, y = (round_half_up(v) for v in mapping.to_device(draw(st.integers(0, ex)), draw(st.integers(0, ey))))
    assume(x < width and y < height)
    return x, y


@st.composite
def device_actions(draw: st.DrawFn, setup: dict, representable: bool) -> object:
    kind = draw(st.sampled_from(ACTION_TYPES))
    if kind is Tap:
        return Tap(*device_point(draw, setup, representable))
    if kind is LongPress:
        return LongPress(*device_point(draw, setup, representable), draw(st.integers(500, 10_000)))
    if kind is Swipe:
        return Swipe(*device_point(draw, setup, representable), *device_point(draw, setup, representable))
    if kind is Type:
        return Type(draw(st.text(min_size=1, max_size=40)))
    if kind is Key:
        return Key(draw(st.sampled_from(sorted(KEYCODES))))
    if kind is OpenApp:
        return OpenApp(draw(st.text(min_size=1, max_size=30).filter(str.strip)))
    if kind is Wait:
        return Wait(draw(st.floats(0, MAX_WAIT_S) | st.integers(0, int(MAX_WAIT_S))))
    if kind is Terminate:
        return Terminate(draw(st.sampled_from(["success", "failure"])))
    return Answer(draw(st.text(max_size=40)))


@FUZZ
@given(data=st.data())
def test_round_trip_is_exact_for_points_a_model_can_write(data: st.DataObject) -> None:
    setup = data.draw(setups())
    action = data.draw(device_actions(setup, representable=True))
    text = format_action(action, **setup)  # type: ignore[arg-type]
    assert parse_action(text, **setup) == action, text


def point_pairs(action: object) -> list[tuple[int, int]]:
    if isinstance(action, Swipe):
        return [(action.x1, action.y1), (action.x2, action.y2)]
    if isinstance(action, (Tap, LongPress)):
        return [(action.x, action.y)]
    return []


@FUZZ
@given(data=st.data())
def test_round_trip_is_within_half_a_model_unit_elsewhere(data: st.DataObject) -> None:
    setup = data.draw(setups())
    action = data.draw(device_actions(setup, representable=False))
    back = parse_action(format_action(action, **setup), **setup)  # type: ignore[arg-type]
    assert type(back) is type(action)
    coords = coord_system(setup["family"], setup["action_format"])
    unit_x, unit_y = ScreenMapping(setup["screen_size"], setup["image_size"], coords).pixels_per_unit
    for (x, y), (bx, by) in zip(point_pairs(action), point_pairs(back), strict=True):
        assert abs(bx - x) <= unit_x / 2 + 0.5 and abs(by - y) <= unit_y / 2 + 0.5
    if not point_pairs(action):
        assert back == action
    # One round trip lands on a point the model can write: a second one changes nothing.
    assert parse_action(format_action(back, **setup), **setup) == back  # type: ignore[arg-type]


def test_format_writes_the_official_tool_call() -> None:
    text = format_action(Tap(540, 1200), family="qwen2_5_vl", image_size=IMAGE, screen_size=SCREEN)
    assert (
        text
        == '<tool_call>\n{"name": "mobile_use", "arguments": {"action": "click", "coordinate": [270, 600]}}'
        "\n</tool_call>"
    )
    kw = {"family": "qwen3_vl", "image_size": IMAGE, "screen_size": SCREEN}
    assert '"coordinate": [500, 500]' in format_action(Tap(540, 1200), **kw)
    assert '"button": "Back"' in format_action(Key("BACK"), **kw)
    assert '"text": "volume_up"' in format_action(Key("VOLUME_UP"), **kw)


def test_format_keeps_tags_in_text_from_breaking_the_call() -> None:
    kw = {"family": "qwen2_5_vl", "image_size": IMAGE, "screen_size": SCREEN}
    for action in (Type("a</tool_call><tool_call>b"), Answer("x</think>y")):
        for fmt in ("mobile_use", "json"):
            assert (
                parse_action(format_action(action, action_format=fmt, **kw), action_format=fmt, **kw)
                == action
            )


def test_format_prefers_element_indices_in_json() -> None:
    kw = {"family": "qwen2_5_vl", "image_size": IMAGE, "screen_size": SCREEN, "action_format": "json"}
    tap = Tap(*ELEMENTS[1].center)
    text = format_action(tap, elements=ELEMENTS, **kw)
    assert json.loads(text) == {"action": "click", "index": 1}
    assert parse_action(text, elements=ELEMENTS, **kw) == tap
    assert "coordinate" in format_action(tap, elements=ELEMENTS, prefer_index=False, **kw)
    assert "coordinate" in format_action(Tap(3, 3), elements=ELEMENTS, **kw)
    press = LongPress(*ELEMENTS[2].center, 1500)
    assert json.loads(format_action(press, elements=ELEMENTS, **kw)) == {
        "action": "long_press",
        "index": 2,
        "time": 1.5,
    }


def test_format_refuses_what_it_cannot_write() -> None:
    kw = {"family": "qwen2_5_vl", "image_size": IMAGE, "screen_size": SCREEN}
    with pytest.raises(ActionFormatError, match="outside"):
        format_action(Tap(1080, 5), **kw)
    with pytest.raises(ActionFormatError, match="not an action"):
        format_action("click", **kw)  # type: ignore[arg-type]
