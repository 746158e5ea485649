"""Numbering of the interactive elements of a ``uiautomator dump``.

This is the one function that gives on-screen elements their indices. Oracles, demonstrations, prompts
and the action parser all call ``number_elements`` so an index means the same element everywhere.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from emulators.errors import DeviceError

_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")


class BadUiDump(DeviceError):
    """The accessibility dump is not the XML ``uiautomator dump`` writes."""


@dataclass(frozen=True)
class Element:
    """One interactive element: its index, what it shows and where it is (device pixels)."""

    index: int
    text: str
    content_desc: str
    resource_id: str
    class_name: str
    bounds: tuple[int, int, int, int]  # x1, y1, x2, y2
    clickable: bool = False
    long_clickable: bool = False
    checkable: bool = False
    checked: bool = False
    focused: bool = False
    scrollable: bool = False
    editable: bool = False
    details: tuple[str, ...] = ()
    """Text shown inside the element by non-interactive children and not already in its label (a
    settings row's summary, a list item's second line): what a screen reader reads out with it."""

    @property
    def center(self) -> tuple[int, int]:
        x1, y1, x2, y2 = self.bounds
        return (x1 + x2) // 2, (y1 + y2) // 2

    @property
    def label(self) -> str:
        """The text a person would read for this element (text, else content description)."""
        return self.text or self.content_desc

    def describe(self, with_center: bool = True) -> str:
        """One line: ``[3] Switch "Wi-Fi" checked (540,612)``, ``[1] LinearLayout "Device name" ("Pixel 8")``;
        the centre is in device pixels."""
        kind = self.class_name.rsplit(".", 1)[-1]
        parts = [f"[{self.index}] {kind}"]
        if self.label:
            parts.append(f'"{self.label}"')
        if self.details:
            parts.append("(" + ", ".join(f'"{d}"' for d in self.details) + ")")
        for flag in ("checked", "focused", "scrollable"):
            if getattr(self, flag):
                parts.append(flag)
        if with_center:
            parts.append("({},{})".format(*self.center))
        return " ".join(parts)


def parse_bounds(text: str) -> tuple[int, int, int, int]:
    m = _BOUNDS.fullmatch(text.strip())
    if not m:
        raise BadUiDump(f"bounds {text!r} is not of the form [x1,y1][x2,y2]")
    x1, y1, x2, y2 = (int(g) for g in m.groups())
    return x1, y1, x2, y2


def _flag(node: ET.Element, name: str) -> bool:
    return node.get(name, "false") == "true"


def number_elements(xml: str) -> list[Element]:
    """The interactive, enabled, visible elements of a dump, numbered 0.. in document order.

    Interactive means clickable, long-clickable, checkable, scrollable or an editable text field.
    Elements with an empty area are skipped.
    """
    start = xml.find("<?xml")
    if start < 0:
        start = xml.find("<hierarchy")
    end = xml.rfind("</hierarchy>")
    if start < 0 or end < 0:
        raise BadUiDump("no <hierarchy> element in the accessibility dump")
    try:
        root = ET.fromstring(xml[start : end + len("</hierarchy>")])
    except ET.ParseError as e:
        raise BadUiDump(f"accessibility dump is not valid XML: {e}") from e
    elements: list[Element] = []
    for node in root.iter("node"):
        if node.get("enabled", "true") != "true" or not _interactive(node):
            continue
        class_name = node.get("class", "")
        editable = class_name.endswith("EditText")
        bounds = parse_bounds(node.get("bounds", "[0,0][0,0]"))
        if bounds[2] <= bounds[0] or bounds[3] <= bounds[1]:
            continue
        elements.append(
            Element(
                index=len(elements),
                text=node.get("text", ""),
                content_desc=node.get("content-desc", ""),
                resource_id=node.get("resource-id", ""),
                class_name=class_name,
                bounds=bounds,
                clickable=_flag(node, "clickable"),
                long_clickable=_flag(node, "long-clickable"),
                checkable=_flag(node, "checkable"),
                checked=_flag(node, "checked"),
                focused=_flag(node, "focused"),
                scrollable=_flag(node, "scrollable"),
                editable=editable,
                details=_details(node),
            )
        )
    return elements


def _interactive(node: ET.Element) -> bool:
    """Clickable, long-clickable, checkable, scrollable, or an editable text field."""
    editable = node.get("class", "").endswith("EditText")
    return editable or any(_flag(node, f) for f in ("clickable", "long-clickable", "checkable", "scrollable"))


def _details(node: ET.Element) -> tuple[str, ...]:
    """Texts of the non-interactive descendants of ``node`` (not looking inside interactive ones, which
    are elements of their own), without those its own label already says. Scrolling containers hold
    whole screens of other elements and get none."""
    if _flag(node, "scrollable"):
        return ()
    label = node.get("text", "") or node.get("content-desc", "")
    found: list[str] = []

    def walk(parent: ET.Element) -> None:
        for child in parent.findall("node"):
            if _interactive(child):
                continue
            text = child.get("text", "") or child.get("content-desc", "")
            if text and text not in label and text not in found:
                found.append(text)
            walk(child)

    walk(node)
    return tuple(found)
