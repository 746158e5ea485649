"""Scripted solvers for MiniWoB++ pages: the oracles of the ``miniwob.*`` templates.

A solver reads the page the way an agent could: the numbered elements (``device.elements()``), plus
read-only ``device.evaluate`` queries where the element list does not tell enough (a textarea from a
text field); it yields only device actions (``Tap``, ``Type``, ``Key``), so every change to the page goes
through the same input events an agent sends. It never writes page state through JavaScript. The task
parses the utterance with MiniWoB's own field extractors (``miniwob.fields``); the template yields the
final ``Terminate``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from emulators.actions import Key, Tap, Type
from emulators.elements import Element
from emulators.web import WebDevice
from tasks.oracle_utils import OracleError

Action = Tap | Type | Key
Solver = Callable[[WebDevice, str], Iterator[Action]]


def fields(task: str, utterance: str) -> dict[str, str]:
    """MiniWoB's fields of ``utterance`` (``{"target": "OK"}`` for click-button)."""
    from miniwob.fields import get_field_extractor  # imports gymnasium: only when a solver runs

    return dict(get_field_extractor(task)(utterance))


def _shown(device: WebDevice) -> str:
    return "; ".join(e.describe() for e in device.elements()) or "no elements"


def find(device: WebDevice, kind: str | None = None, *, text: str | None = None, desc: str | None = None,
         label: str | None = None) -> Element:
    """The first element of class ``web.<kind>`` whose text / content-desc / either equals the given
    string exactly; ``OracleError`` listing what the page shows when there is none."""
    for el in device.elements():
        if kind is not None and el.class_name != f"web.{kind}":
            continue
        if text is not None and el.text != text:
            continue
        if desc is not None and el.content_desc != desc:
            continue
        if label is not None and label not in (el.text, el.content_desc):
            continue
        return el
    want = ", ".join(f"{k}={v!r}" for k, v in (("kind", kind), ("text", text), ("desc", desc),
                                                ("label", label)) if v is not None)
    raise OracleError(f"no element with {want} on the page; it shows: {_shown(device)}")


def of_kind(device: WebDevice, *kinds: str) -> list[Element]:
    return [el for el in device.elements() if el.class_name.removeprefix("web.") in kinds]


def tap(el: Element) -> Tap:
    return Tap(*el.center)


def centre_of(device: WebDevice, selector: str) -> Tap:
    """A tap at the centre of the first element ``selector`` matches (a read of the page)."""
    rect = device.evaluate(
        f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
        " const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()")
    if rect is None:
        raise OracleError(f"nothing on the page matches {selector!r}; it shows: {_shown(device)}")
    return Tap(round(rect[0]), round(rect[1]))


# A point of the element that is on top there (not covered by another), on a 9x9 grid, centre first.
VISIBLE_POINT = """((e) => { if (!e) return null; const r = e.getBoundingClientRect();
  const fs = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9];
  for (const fy of fs) for (const fx of fs) {
    const x = r.left + fx * r.width, y = r.top + fy * r.height, top = document.elementFromPoint(x, y);
    if (top && (top === e || e.contains(top))) return [x, y]; }
  return null; })(%s)"""
BUTTON = "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === %s)"
MAX_TABS = 8


def button_by_text(device: WebDevice, text: str) -> Iterator[Action]:
    """Press the button showing ``text``: a tap on it as listed, else on a visible part of it (the
    element list leaves out a button whose centre another covers: click-test-2's ONE under TWO), else,
    when it is covered whole, Tab to it and Enter."""
    listed = next((el for el in of_kind(device, "Button") if el.text == text), None)
    if listed is not None:
        yield tap(listed)
        return
    button = BUTTON % json.dumps(text)
    point = device.evaluate(VISIBLE_POINT % button)
    if point is not None:
        yield Tap(round(point[0]), round(point[1]))
        return
    for _ in range(MAX_TABS):
        yield Key("TAB")
        if device.evaluate(f"document.activeElement === {button}"):
            yield Key("ENTER")
            return
    raise OracleError(f"no button {text!r} to press on the page; it shows: {_shown(device)}")


def submit(device: WebDevice, label: str = "Submit") -> Iterator[Action]:
    yield tap(find(device, "Button", text=label))


def type_into(field: Element, text: str) -> Iterator[Action]:
    yield tap(field)
    yield Type(text)


# -- click tasks -------------------------------------------------------------------------------------


def click_test(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield tap(find(device, "Button", text="Click Me!"))


def click_test_2(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield from button_by_text(device, fields("click-test-2", utterance)["target"])


def click_button(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield tap(find(device, "Button", text=fields("click-button", utterance)["target"]))


def click_button_sequence(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield from button_by_text(device, "ONE")
    yield from button_by_text(device, "TWO")


def click_link(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield tap(find(device, text=fields("click-link", utterance)["target"]))


def click_dialog(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield tap(find(device, "Button", label="Close"))


def click_dialog_2(device: WebDevice, utterance: str) -> Iterator[Action]:
    target = fields("click-dialog-2", utterance)["target"]
    if target == "x":
        yield tap(find(device, "Button", label="Close"))
    else:
        yield tap(find(device, "Button", text=target))


def click_tab(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield tap(find(device, "Link", text=f"Tab #{fields('click-tab', utterance)['target']}"))


def click_checkboxes(device: WebDevice, utterance: str) -> Iterator[Action]:
    wanted = {v for k, v in fields("click-checkboxes", utterance).items() if k.startswith("target") and v}
    for box in of_kind(device, "CheckBox"):
        if (box.content_desc in wanted) != box.checked:
            yield tap(box)
    yield from submit(device)


def click_option(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield tap(find(device, "RadioButton", desc=fields("click-option", utterance)["target"]))
    yield from submit(device)


def click_widget(device: WebDevice, utterance: str) -> Iterator[Action]:
    # The page names its widgets by its own data-type attribute (``text``, ``textarea``, ``radio``…).
    kind = fields("click-widget", utterance)["target"]
    yield centre_of(device, f'#area [data-type="{kind}"]')


def click_collapsible(device: WebDevice, utterance: str) -> Iterator[Action]:
    header = next((el for el in of_kind(device, "Tab") if el.text.startswith("Section")), None)
    if header is None:
        raise OracleError(f"no section header on the page; it shows: {_shown(device)}")
    yield tap(header)
    yield from submit(device)


def _shown_with_text(device: WebDevice, text: str, skip: str) -> Element | None:
    """A visible element showing ``text`` that is not of class ``web.<skip>`` (a tab or its link)."""
    return next((el for el in device.elements() if el.text == text and el.class_name not in
                 (f"web.{skip}", "web.Link", "web.Tab", "web.Tablist")), None)


def click_tab_2(device: WebDevice, utterance: str) -> Iterator[Action]:
    """Open the tabs one by one until the link shows, then tap it."""
    target = fields("click-tab-2", utterance)["target"]
    tabs = [el for el in of_kind(device, "Link") if el.text.startswith("Tab #")]
    for tab in [None, *tabs]:
        if tab is not None:
            yield tap(tab)
        link = _shown_with_text(device, target, "Link")
        if link is not None:
            yield tap(link)
            return
    raise OracleError(f"no tab shows the link {target!r}")


def click_collapsible_2(device: WebDevice, utterance: str) -> Iterator[Action]:
    """Expand the sections one by one until the link shows, then tap it."""
    target = fields("click-collapsible-2", utterance)["target"]
    headers = [el.text for el in of_kind(device, "Tab") if el.text.startswith("Section #")]
    for name in headers:
        yield tap(find(device, "Tab", text=name))  # expanding one section moves the headers below it
        link = _shown_with_text(device, target, "Tab")
        if link is not None:
            yield tap(link)
            return
    raise OracleError(f"no section shows the link {target!r}")


# -- focus and type tasks ----------------------------------------------------------------------------


def focus_text(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield tap(of_kind(device, "TextField")[0])


def focus_text_2(device: WebDevice, utterance: str) -> Iterator[Action]:
    nth = int(fields("focus-text-2", utterance)["target"])
    yield tap(of_kind(device, "TextField")[nth - 1])


def enter_text(device: WebDevice, utterance: str) -> Iterator[Action]:
    yield from type_into(of_kind(device, "TextField")[0], fields("enter-text", utterance)["target"])
    yield from submit(device)


def enter_text_2(device: WebDevice, utterance: str) -> Iterator[Action]:
    values = fields("enter-text-2", utterance)
    text = values["text"].upper() if values["case"] == "upper" else values["text"].lower()
    yield from type_into(of_kind(device, "TextField")[0], text)
    yield from submit(device)


def enter_password(device: WebDevice, utterance: str) -> Iterator[Action]:
    password = fields("enter-password", utterance)["target"]
    for field in of_kind(device, "TextField", "PasswordField")[:2]:
        yield from type_into(field, password)
    yield from submit(device)


def login_user(device: WebDevice, utterance: str) -> Iterator[Action]:
    values = fields("login-user", utterance)
    user_field, password_field = of_kind(device, "TextField", "PasswordField")[:2]
    yield from type_into(user_field, values["username"])
    yield from type_into(password_field, values["password"])
    yield from submit(device, "Login")


def enter_date(device: WebDevice, utterance: str) -> Iterator[Action]:
    # A date input takes the digits of its segments in the locale's order (en-US: mm dd yyyy). A tap
    # at its centre lands right of the segments and selects none (typing then does nothing): tap the
    # month segment at its left end.
    date = fields("enter-date", utterance)["target"]
    field = of_kind(device, "DateField", "TextField")[0]
    yield Tap(field.bounds[0] + 6, field.center[1])
    yield Type(date.replace("/", ""))
    yield from submit(device)


def choose_list(device: WebDevice, utterance: str) -> Iterator[Action]:
    # A tap opens the select's popup; typing moves its highlight to the option that starts with the
    # text and Enter picks it. (Taps on the popup's options do not reach it: they land on the page.)
    yield tap(find(device, "Select"))
    yield Type(fields("choose-list", utterance)["target"])
    yield Key("ENTER")
    yield from submit(device)


SOLVERS: dict[str, Solver] = {
    "click-test": click_test,
    "click-test-2": click_test_2,
    "click-button": click_button,
    "click-button-sequence": click_button_sequence,
    "click-link": click_link,
    "click-dialog": click_dialog,
    "click-dialog-2": click_dialog_2,
    "click-tab": click_tab,
    "click-checkboxes": click_checkboxes,
    "click-option": click_option,
    "click-widget": click_widget,
    "click-collapsible-nodelay": click_collapsible,
    "focus-text": focus_text,
    "focus-text-2": focus_text_2,
    "enter-text": enter_text,
    "enter-text-2": enter_text_2,
    "enter-password": enter_password,
    "login-user": login_user,
    "enter-date": enter_date,
    "choose-list": choose_list,
    # Pages of the miniwob suite beyond miniwob-easy: variants of the pages above.
    "click-test-transfer": click_test_2,
    "click-checkboxes-large": click_checkboxes,
    "click-checkboxes-transfer": click_checkboxes,
    "enter-text-dynamic": enter_text,
    "unicode-test": click_button,
    "click-tab-2": click_tab_2,
    "click-tab-2-easy": click_tab_2,
    "click-collapsible-2-nodelay": click_collapsible_2,
}
