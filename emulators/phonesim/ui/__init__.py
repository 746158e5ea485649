"""PhoneSim's retained-mode UI toolkit: widgets, layout, page furniture, drawing and hit testing."""

from emulators.phonesim.ui.canvas import Box, Canvas
from emulators.phonesim.ui.chrome import (
    AppBar,
    Dialog,
    Keyboard,
    NavItems,
    Page,
    fab,
    list_item,
    section_header,
)
from emulators.phonesim.ui.layout import Column, ListView, RadioGroup, Row, TextField
from emulators.phonesim.ui.screen import Screen
from emulators.phonesim.ui.theme import RESOLUTIONS, Look, Palette, resolve_resolution
from emulators.phonesim.ui.widgets import (
    Button,
    CheckBox,
    Divider,
    Icon,
    RadioButton,
    Slider,
    Spacer,
    Switch,
    Text,
    Widget,
)

__all__ = [
    "RESOLUTIONS", "AppBar", "Box", "Button", "Canvas", "CheckBox", "Column", "Dialog", "Divider",
    "Icon", "Keyboard", "ListView", "Look", "NavItems", "Page", "Palette", "RadioButton", "RadioGroup",
    "Row", "Screen", "Slider", "Spacer", "Switch", "Text", "TextField", "Widget", "fab", "list_item",
    "resolve_resolution",
    "section_header",
]
