"""Shaping potentials that see progress: a switch template's potential rises when its page is open."""

from __future__ import annotations

import pytest

from emulators.actions import Key, OpenApp, Tap
from emulators.phonesim import SimDevice
from tasks.base import get_task
from tasks.suites import load_templates


def tap_label(device: SimDevice, label: str) -> None:
    element = next(e for e in device.elements() if f'"{label}"' in e.describe())
    device.execute(Tap(*element.center))


@pytest.mark.parametrize(("template", "page", "elsewhere", "switch"), [
    ("settings.dark_theme_on", "Display", "Battery", "Dark theme"),
    ("settings.wifi_off", "Network & internet", "Display", "Wi-Fi"),
])
def test_switch_potential_is_half_on_its_page_and_one_when_set(template, page, elsewhere, switch):
    load_templates()
    task = get_task(template).sample(3)
    device = SimDevice(seed=1, resolution="small")
    task.setup(device)
    assert task.progress(device) == 0.0  # the home screen
    device.execute(OpenApp("Settings"))
    assert task.progress(device) == 0.0  # the main list is not the page
    tap_label(device, elsewhere)
    assert task.progress(device) == 0.0  # another page
    device.execute(Key("KEYCODE_BACK"))
    tap_label(device, page)
    assert task.progress(device) == 0.5
    elements = device.elements()
    row = next(i for i, e in enumerate(elements) if f'"{switch}"' in e.describe())
    device.execute(Tap(*elements[row + 1].center))  # the switch beside its label
    assert task.progress(device) == 1.0
