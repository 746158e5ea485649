"""The system-prompt text that declares the action set, per family and action format."""

from __future__ import annotations

import json

from gui_grpo.policy.action_space import OFFICIAL_ACTIONS
from gui_grpo.policy.actions import ACTION_NAMES, tool_description, tool_schema


def tools_block(description: str) -> dict:
    start = description.index("<tools>\n") + len("<tools>\n")
    return json.loads(description[start : description.index("\n</tools>")])


def test_mobile_use_description_declares_tool_actions_and_resolution() -> None:
    text = tool_description("qwen2_5_vl", None, (476, 1064))
    schema = tools_block(text)
    assert schema == tool_schema("qwen2_5_vl", None, (476, 1064))
    function = schema["function"]
    assert function["name"] == "mobile_use"
    assert "The screen's resolution is 476x1064." in function["description"]
    action = function["parameters"]["properties"]["action"]
    assert action["enum"] == list(ACTION_NAMES) and set(OFFICIAL_ACTIONS) < set(action["enum"])
    assert "`answer`" in action["description"] and "addition" in action["description"]
    assert function["parameters"]["properties"]["button"]["enum"] == ["Back", "Home", "Menu", "Enter"]
    assert "index" not in function["parameters"]["properties"]
    assert "<tool_call>" in text and text.startswith("# Tools")


def test_normalised_description_declares_a_1000_screen() -> None:
    for family, fmt in [("qwen3_vl", None), ("qwen2_vl", None), ("qwen2_5_vl", "mobile_use_norm1000")]:
        function = tools_block(tool_description(family, fmt, (476, 1064)))["function"]
        assert "The screen's resolution is 1000x1000." in function["description"]
        assert "normalised" in function["parameters"]["properties"]["coordinate"]["description"]


def test_element_indices_are_declared_when_elements_are_shown() -> None:
    function = tool_schema("qwen2_5_vl", None, (476, 1064), with_elements=True)["function"]
    assert function["parameters"]["properties"]["index"]["type"] == "integer"
    text = tool_description("qwen2_5_vl", "json", (476, 1064), with_elements=True)
    assert '"index": i' in text and "476x1064" in text
    assert all(f'"{name}"' in text for name in ACTION_NAMES)
    assert "index" not in tool_description("qwen3_vl", "json", (476, 1064))
    assert "0-1000" in tool_description("qwen3_vl", "json", (476, 1064))
