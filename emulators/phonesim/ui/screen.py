"""The UI state of one activity instance: plain data, so a phone copies with ``copy.deepcopy``.

Widgets are rebuilt from ``PhoneState`` plus this record whenever either changes; anything that must
survive a rebuild (field text, scroll offsets, which dialog is open, focus) lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Screen:
    activity: str  # full activity class name, e.g. "com.android.settings.Settings"
    route: str  # the app's name for this page, e.g. "main", "wifi"
    args: dict[str, object] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)  # field text, scroll offsets, page state
    focus: str | None = None  # key of the focused text field
    dialog: str | None = None  # the app's name for the open dialog

    def text(self, key: str) -> str:
        value = self.values.get(key, "")
        return value if isinstance(value, str) else str(value)
