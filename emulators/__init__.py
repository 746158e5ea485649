"""Devices for gui-grpo: the device contracts (GuiDevice, AndroidDevice), the action vocabulary, PhoneSim,
ADB devices and web pages.

This package imports neither ``tasks`` nor ``gui_grpo``.
"""

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
from emulators.device import AndroidDevice, GuiDevice, ShellResult
from emulators.elements import Element, number_elements
from emulators.errors import (
    AuthRefused,
    BadDeviceSpec,
    DeviceError,
    DeviceTimeout,
    DeviceUnreachable,
    ForkUnsupported,
    InvalidAction,
    ShellCommandFailed,
    UntypeableText,
)
from emulators.specs import DeviceSpec, parse_device_spec

__all__ = [
    "Answer",
    "AuthRefused",
    "BadDeviceSpec",
    "ControlAction",
    "AndroidDevice",
    "DeviceAction",
    "DeviceError",
    "DeviceSpec",
    "DeviceTimeout",
    "DeviceUnreachable",
    "Element",
    "ForkUnsupported",
    "GuiDevice",
    "InvalidAction",
    "Key",
    "LongPress",
    "OpenApp",
    "ShellCommandFailed",
    "ShellResult",
    "Swipe",
    "Tap",
    "Terminate",
    "Type",
    "UntypeableText",
    "Wait",
    "number_elements",
    "parse_device_spec",
]
