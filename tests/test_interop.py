"""AndroidWorld JSON actions <-> ours, checked on a real PhoneSim screen."""

from __future__ import annotations

import pytest

from emulators.actions import Answer, Key, LongPress, OpenApp, Swipe, Tap, Terminate, Type, Wait
from emulators.phonesim import SimDevice
from gui_grpo.policy.interop import InteropError, from_androidworld, to_androidworld

SCREEN = (540, 1200)


@pytest.fixture(scope="module")
def elements():
    device = SimDevice(seed=0, resolution="small")
    device.open_app("settings")
    return device.elements()


@pytest.mark.parametrize(
    "action",
    [
        Tap(10, 20),
        LongPress(30, 40),
        Type("Hello; $(id)"),
        Key("BACK"),
        Key("HOME"),
        Key("ENTER"),
        OpenApp("Contacts"),
        Terminate("success"),
        Terminate("failure"),
        Answer("+34 600 111 222"),
    ],
)
def test_round_trip(action):
    assert from_androidworld(to_androidworld(action), SCREEN) == [action]


def test_index_targets_resolve_to_element_centres(elements):
    row = elements[1]
    record = to_androidworld(Tap(*row.center), elements)
    assert record == {"action_type": "click", "index": 1}
    assert from_androidworld(record, SCREEN, elements) == [Tap(*row.center)]
    field = {"action_type": "input_text", "text": "abc", "index": 2}
    assert from_androidworld(field, SCREEN, elements) == [Tap(*elements[2].center), Type("abc")]


def test_scroll_follows_androidworld_actuation():
    (down,) = from_androidworld({"action_type": "scroll", "direction": "down"}, SCREEN)
    assert isinstance(down, Swipe) and down.y2 < down.y1 and down.x1 == down.x2  # finger moves up
    assert to_androidworld(down) == {"action_type": "scroll", "direction": "down"}
    for direction in ("up", "left", "right"):
        (swipe,) = from_androidworld({"action_type": "scroll", "direction": direction}, SCREEN)
        assert to_androidworld(swipe) == {"action_type": "scroll", "direction": direction}
    assert from_androidworld({"action_type": "wait"}, SCREEN) == [Wait(1.0)]


@pytest.mark.parametrize(
    "record,message",
    [
        ({"action_type": "double_tap", "x": 1, "y": 1}, "no counterpart"),
        ({"action_type": "click"}, "index or x and y"),
        ({"action_type": "click", "x": 5000, "y": 1}, "outside"),
        ({"action_type": "click", "index": 99}, "not one of"),
        ({"action_type": "scroll", "direction": "sideways"}, "direction"),
        ({"action_type": "status", "goal_status": "done"}, "goal_status"),
        ({"action_type": "input_text", "text": ""}, "input_text"),
        ({"x": 1}, "action_type"),
    ],
)
def test_malformed_or_unsupported_records_raise(record, message):
    with pytest.raises(InteropError, match=message):
        from_androidworld(record, SCREEN)


def test_keys_without_counterpart_raise():
    with pytest.raises(InteropError, match="APP_SWITCH"):
        to_androidworld(Key("APP_SWITCH"))
