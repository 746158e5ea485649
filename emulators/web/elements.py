"""Numbered interactive elements of a web page, in the ``Element`` form prompts and the parser use.

``ELEMENTS_JS`` walks the DOM in document order and keeps what a person can act on and see: links,
buttons, form fields, elements with an ARIA widget role, a click handler (``onclick``, jQuery's, or
one added with ``addEventListener``, recorded by ``LISTENERS_JS``; SVG shapes only with one), a
``tabindex``, ``contenteditable``, or a pointer cursor their parent does not have; each enabled, inside
the viewport, visible (not hidden, not transparent itself or through an ancestor), not covered at its
centre by another element (else reported around the first of four inner points that shows). A
``<select>`` carries its options' texts as ``details``. Labels follow what a screen reader
says: the element's visible text (a field's value), else ``aria-label``, ``title``, ``placeholder``,
``alt`` or the text of its ``<label>``. Bounds are CSS pixels of the viewport = device pixels.
"""

from __future__ import annotations

from typing import Any

from emulators.elements import Element

MAX_LABEL = 80
MAX_OPTIONS = 20  # a <select>'s choices, shown with it (its native popup is not part of the page)

LISTENERS_JS = r"""
(() => {
  if (window.__guiGrpoListened) return;
  const listened = new WeakSet();
  Object.defineProperty(window, "__guiGrpoListened", {value: listened});
  const add = EventTarget.prototype.addEventListener;
  const CLICKS = new Set(["click", "mousedown", "mouseup", "pointerdown", "pointerup", "touchstart"]);
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    if (CLICKS.has(type) && this instanceof Element) listened.add(this);
    return add.call(this, type, listener, options);
  };
})();
"""
"""Run in every page before its own scripts (``Page.addScriptToEvaluateOnNewDocument``): remembers which
elements get a click listener through ``addEventListener`` (d3's ``.on``, plain DOM code), which the DOM
does not show otherwise."""

ELEMENTS_JS = r"""
(() => {
  const W = window.innerWidth, H = window.innerHeight;
  const ROLES = new Set(["button", "link", "checkbox", "radio", "tab", "option", "menuitem", "switch",
                         "textbox", "slider", "combobox", "treeitem", "listitem", "spinbutton"]);
  const TAGS = new Set(["A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "OPTION", "SUMMARY", "LABEL"]);
  const jq = window.jQuery;
  const listened = window.__guiGrpoListened;  // elements given a click listener (LISTENERS_JS)
  const hasHandler = (e) => {
    if (e.onclick || e.onmousedown || e.onmouseup) return true;
    if (listened && listened.has(e)) return true;
    if (!jq || !jq._data) return false;
    const ev = jq._data(e, "events");
    return !!(ev && (ev.click || ev.mousedown || ev.mouseup));
  };
  const interactive = (e) => {
    if (TAGS.has(e.tagName)) return !(e.tagName === "INPUT" && e.type === "hidden");
    const role = e.getAttribute("role");
    if (role && ROLES.has(role)) return true;
    if (e.isContentEditable && !(e.parentElement && e.parentElement.isContentEditable)) return true;
    if (e instanceof SVGElement && !hasHandler(e)) return false;  // SVG shapes count only with a handler
    if (e.hasAttribute("tabindex") && e.getAttribute("tabindex") !== "-1") return true;
    if (hasHandler(e)) return true;
    const cursor = getComputedStyle(e).cursor;
    const parent = e.parentElement;
    return cursor === "pointer" && !(parent && getComputedStyle(parent).cursor === "pointer");
  };
  const labelText = (e) => {
    if (e.labels && e.labels.length) return e.labels[0].innerText;
    if (!e.id) return "";
    const l = document.querySelector('label[for="' + CSS.escape(e.id) + '"]');
    if (l) return l.innerText;
    return "";
  };
  const out = [];
  for (const e of document.querySelectorAll("body *")) {
    if (!interactive(e)) continue;
    if (e.matches(":disabled") || e.getAttribute("aria-disabled") === "true") continue;
    if (!e.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const style = getComputedStyle(e);
    const r = e.getBoundingClientRect();
    const x1 = Math.max(0, r.left), y1 = Math.max(0, r.top);
    const x2 = Math.min(W, r.right), y2 = Math.min(H, r.bottom);
    if (x2 - x1 < 1 || y2 - y1 < 1) continue;
    // Visible where a tap lands: the centre, else the first of four inner points no other element covers;
    // a partly covered element is reported around its visible point, so its centre is tappable.
    const mine = (x, y) => {
      const top = document.elementFromPoint(x, y);
      return !top || top === e || e.contains(top) || (top.contains(e) && top.tagName === "LABEL");
    };
    const w = x2 - x1, h = y2 - y1;
    const points = [[0.5, 0.5], [0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]];
    const hit = points.find(([fx, fy]) => mine(x1 + fx * w, y1 + fy * h));
    if (!hit) continue;
    const box = hit[0] === 0.5 ? [x1, y1, x2, y2] : (() => {
      const px = x1 + hit[0] * w, py = y1 + hit[1] * h;
      return [px - w / 4, py - h / 4, px + w / 4, py + h / 4];
    })();
    const field = e.tagName === "INPUT" || e.tagName === "TEXTAREA" || e.tagName === "SELECT";
    const type = e.tagName === "INPUT" ? (e.type || "text") : "";
    const text = field ? (type === "checkbox" || type === "radio" ? "" : String(e.value || ""))
                       : String(e.innerText || e.textContent || "").trim();
    const options = e.tagName === "SELECT" ? Array.from(e.options).map(o => o.text.trim()) : [];
    out.push({
      tag: e.tagName.toLowerCase(), type: type, role: e.getAttribute("role") || "",
      text: text, id: e.id || "",
      desc: e.getAttribute("aria-label") || e.getAttribute("title") || e.getAttribute("placeholder") ||
            e.getAttribute("alt") || labelText(e) || "",
      bounds: box.map(Math.round), options: options,
      checkable: type === "checkbox" || type === "radio" || e.getAttribute("role") === "checkbox",
      checked: !!e.checked || e.getAttribute("aria-checked") === "true",
      focused: document.activeElement === e,
      editable: (field && e.tagName !== "SELECT" && !["checkbox", "radio", "button", "submit", "reset",
                 "range", "color", "file", "image"].includes(type)) || !!e.isContentEditable,
      scrollable: e.scrollHeight > e.clientHeight + 1 && ["auto", "scroll"].includes(style.overflowY),
    });
  }
  return out;
})()
"""


def _clip(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


_INPUT_KINDS = {"checkbox": "CheckBox", "radio": "RadioButton", "button": "Button", "submit": "Button",
                "reset": "Button", "range": "Slider", "color": "ColorPicker", "file": "FileInput",
                "date": "DateField", "time": "TimeField", "datetime-local": "DateTimeField",
                "month": "MonthField", "week": "WeekField", "number": "NumberField",
                "password": "PasswordField"}
_TAG_KINDS = {"a": "Link", "button": "Button", "select": "Select", "textarea": "TextArea", "label": "Label",
              "option": "Option", "summary": "Summary"}


def class_name(item: dict[str, Any]) -> str:
    """What the element is, as ``web.KIND``: ``web.Button``, ``web.TextField``, ``web.CheckBox``,
    ``web.Link``, ``web.Tab`` (an ARIA role), ``web.Span`` (a plain element with a click handler)."""
    tag = item["tag"]
    if tag == "input":
        kind = _INPUT_KINDS.get(item.get("type", ""), "TextField")
    elif tag in _TAG_KINDS:
        kind = _TAG_KINDS[tag]
    elif item.get("role"):
        kind = item["role"].capitalize()
    else:
        kind = tag.capitalize()
    return f"web.{kind}"


def elements_from_page(items: Any) -> list[Element]:
    """``Element`` s numbered 0.. in document order from what ``ELEMENTS_JS`` returned."""
    elements: list[Element] = []
    for item in items or []:
        x1, y1, x2, y2 = (int(v) for v in item["bounds"])
        elements.append(Element(
            index=len(elements), text=_clip(item["text"]), content_desc=_clip(item["desc"]),
            resource_id=item["id"], class_name=class_name(item), bounds=(x1, y1, x2, y2),
            clickable=True, checkable=bool(item["checkable"]), checked=bool(item["checked"]),
            focused=bool(item["focused"]), scrollable=bool(item["scrollable"]),
            editable=bool(item.get("editable")),
            details=tuple(_clip(o) for o in item.get("options") or ())[:MAX_OPTIONS],
        ))
    return elements
