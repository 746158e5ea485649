"""Devices for gui-grpo: the Device contract, the action vocabulary, PhoneSim and ADB devices.

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
from emulators.device import Device, ShellResult
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
    "Device",
    "DeviceAction",
    "DeviceError",
    "DeviceSpec",
    "DeviceTimeout",
    "DeviceUnreachable",
    "Element",
    "ForkUnsupported",
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
