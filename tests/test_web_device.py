"""WebDevice on a real headless Chromium: what a user of a web page as a GuiDevice relies on.

Every test loads a small page of its own (written into ``tmp_path``) whose scripts record the events they
receive into window globals, and reads them back with ``evaluate``. No mocks: the module is skipped when no
Chromium is installed. One browser with three pages serves most tests; the kill, close and goto tests
start browsers of their own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import emulators.web.device as web_device
from emulators.actions import Answer, Key, LongPress, OpenApp, Swipe, Tap, Terminate, Type, Wait
from emulators.errors import DeviceError, DeviceUnreachable, InvalidAction, UntypeableText
from emulators.web import BrowserMissing, WebDevice, find_chromium, open_web_devices

try:
    find_chromium()
except BrowserMissing as e:
    pytest.skip(f"no Chromium to drive ({e})", allow_module_level=True)

SIZE = (160, 210)

# Records every input event the page receives, in order, into window.log.
RECORDER = """
window.log = [];
for (const t of ["mousedown", "mouseup", "click", "keydown", "input", "submit", "contextmenu"]) {
  document.addEventListener(t, (e) => log.push({type: e.type, trusted: e.isTrusted, x: e.clientX,
    y: e.clientY, t: e.timeStamp, key: e.key, target: e.target.id || e.target.tagName}), true);
}
"""


def load(device: WebDevice, tmp_path: Path, body: str, *, name: str = "page.html", script: str = "") -> str:
    """Write a page with ``body`` and the event recorder, load it and return its URL."""
    path = tmp_path / name
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><style>body{margin:0;font:14px sans-serif}"
        f"</style></head><body>{body}<script>{RECORDER}{script}</script></body></html>",
        encoding="utf-8",
    )
    url = path.as_uri()
    device.goto(url)
    return url


def events(device: WebDevice, kind: str | None = None) -> list[dict]:
    log = device.evaluate("window.log")
    return [e for e in log if kind is None or e["type"] == kind]


def wait_for(device: WebDevice, expression: str, timeout_s: float = 3.0) -> object:
    """The first truthy value of ``expression`` within ``timeout_s`` (the last value if none)."""
    deadline = time.monotonic() + timeout_s
    value = device.evaluate(expression)
    while not value and time.monotonic() < deadline:
        time.sleep(0.02)
        value = device.evaluate(expression)
    return value


@pytest.fixture(scope="module")
def pages() -> Iterator[list[WebDevice]]:
    devices = open_web_devices(3, size=SIZE)
    yield devices
    for device in devices:
        device.close()


@pytest.fixture
def web(pages: list[WebDevice]) -> WebDevice:
    return pages[0]


# -- actions -------------------------------------------------------------------------------------------

BUTTON = ("<button id=b style='position:absolute;left:30px;top:50px;width:80px;height:30px'"
          " onclick='this.textContent = \"done\"'>Go</button>")


def test_tap_clicks_a_button_at_its_centre_with_a_trusted_event(web, tmp_path):
    load(web, tmp_path, BUTTON)
    (button,) = web.elements()
    assert button.center == (70, 65)
    web.execute(Tap(*button.center))
    clicks = events(web, "click")
    assert len(clicks) == 1
    assert clicks[0]["trusted"] and clicks[0]["target"] == "b"
    assert (clicks[0]["x"], clicks[0]["y"]) == button.center
    assert [e["type"] for e in events(web) if e["type"].startswith("mouse")] == ["mousedown", "mouseup"]
    assert web.elements()[0].text == "done"


def test_long_press_holds_the_button_down_for_its_duration(web, tmp_path):
    load(web, tmp_path, BUTTON)
    t0 = time.monotonic()
    web.execute(LongPress(70, 65, duration_ms=600))
    assert time.monotonic() - t0 >= 0.6
    (down,), (up,) = events(web, "mousedown"), events(web, "mouseup")
    assert (down["x"], down["y"], up["x"], up["y"]) == (70, 65, 70, 65)
    assert up["t"] - down["t"] >= 599  # event timestamps are coarsened to ~0.1 ms


def test_swipe_drags_a_range_slider(web, tmp_path):
    load(web, tmp_path, "<input type=range id=r min=0 max=100 value=50 "
                        "style='display:block;margin:60px 5px;width:150px'>")
    (slider,) = web.elements()
    assert slider.class_name == "web.Slider"
    x1, _, x2, _ = slider.bounds
    y = slider.center[1]
    web.execute(Swipe(x1 + 2, y, x2 - 2, y, duration_ms=200))
    assert web.evaluate("+r.value") > 90
    web.execute(Swipe(x2 - 2, y, x1 + 2, y, duration_ms=200))
    assert web.evaluate("+r.value") < 10


BANDS = "".join(f"<div style='height:150px;background:{c}'></div>" for c in ("#f00", "#0f0", "#00f", "#ff0"))


def test_swipe_up_scrolls_a_tall_page_by_the_drag(web, tmp_path):
    load(web, tmp_path, BANDS)
    web.execute(Swipe(80, 180, 80, 30, duration_ms=100))
    web.screenshot()  # the step's observation
    assert web.evaluate("scrollY") == 150
    web.execute(Swipe(80, 30, 80, 180, duration_ms=100))
    web.screenshot()
    assert web.evaluate("scrollY") == 0


def test_a_screenshot_of_a_scrolled_page_shows_the_viewport(web, tmp_path):
    load(web, tmp_path, BANDS)
    assert web.screenshot().getpixel((80, 5)) == (255, 0, 0)
    web.evaluate("scrollTo(0, 150)")
    shot = web.screenshot()
    assert (shot.getpixel((80, 5)), shot.getpixel((80, 160))) == ((0, 255, 0), (0, 0, 255))


def test_the_page_is_scrolled_when_swipe_returns(web, tmp_path):
    load(web, tmp_path, BANDS)
    web.swipe(80, 180, 80, 30, 100)
    assert web.evaluate("scrollY") == 150


def tap_field(device: WebDevice) -> None:
    field = next(e for e in device.elements() if e.editable)
    device.tap(*field.center)
    assert device.evaluate("document.activeElement.id") == field.resource_id


TEXTS = [
    "hello world", "it's \"quoted\"", "back\\slash \\n", "</script><script>window.sentinel = 1</script>",
    "<b>bold</b> &amp;", "café é 日本語 😀", '"); alert(1); //', "'; window.sentinel = 1; '",
    "${window.sentinel = 1}", "%s %d {} [x]",
]


@pytest.mark.parametrize("text", TEXTS)
def test_type_text_arrives_exactly_as_data(web, tmp_path, text):
    load(web, tmp_path, "<input id=f style='width:150px'>",
         script="window.sentinel = 0; window.alert = () => { window.sentinel = 2; };")
    tap_field(web)
    web.execute(Type(text))
    assert web.evaluate("f.value") == text
    assert web.evaluate("window.sentinel") == 0
    assert web.evaluate("document.querySelectorAll('b, script').length") == 1  # only the page's script
    assert len(events(web, "input")) == len(text)


def test_a_newline_in_the_text_is_an_enter_key(web, tmp_path):
    load(web, tmp_path, "<textarea id=f rows=4></textarea>")
    tap_field(web)
    web.execute(Type("one\ntwo"))
    assert web.evaluate("f.value") == "one\ntwo"
    assert [e["key"] for e in events(web, "keydown")].count("Enter") == 1


def test_control_characters_other_than_newline_are_refused(web, tmp_path):
    load(web, tmp_path, "<input id=f><input id=g>")
    tap_field(web)
    with pytest.raises(UntypeableText):
        web.type_text("a\tb")
    assert web.evaluate("f.value + '|' + g.value") == "|"


def test_format_characters_are_typed_as_text(web, tmp_path):
    load(web, tmp_path, "<input id=f style='width:150px'>")
    tap_field(web)
    text = "👩\u200d💻 \u05e9\u200f\u00ad!"  # woman technologist (ZWJ), shin + RLM, soft hyphen
    web.type_text(text)
    assert web.evaluate("f.value") == text


FORM = ("<form id=form onsubmit='event.preventDefault(); window.submitted = f.value'>"
        "<input id=f value=''></form>")


def test_enter_submits_a_form_and_fires_keydown_enter(web, tmp_path):
    load(web, tmp_path, FORM, script="window.submitted = null;")
    tap_field(web)
    web.execute(Type("query"))
    web.execute(Key("ENTER"))
    assert web.evaluate("window.submitted") == "query"
    (enter,) = [e for e in events(web, "keydown") if e["key"] == "Enter"]
    assert enter["trusted"] and enter["target"] == "f"


def test_editing_keys_delete_and_move_the_caret(web, tmp_path):
    load(web, tmp_path, FORM)
    tap_field(web)
    web.execute(Type("abcd"))
    web.execute(Key("DEL"))
    assert web.evaluate("f.value") == "abc"
    web.execute(Key("MOVE_HOME"))
    web.execute(Key("FORWARD_DEL"))
    assert web.evaluate("f.value") == "bc"
    web.execute(Key("DPAD_RIGHT"))
    web.execute(Type("X"))
    assert web.evaluate("f.value") == "bXc"


def test_back_goes_back_in_history(web, tmp_path):
    first = load(web, tmp_path, "<p>first</p>", name="first.html")
    second = load(web, tmp_path, "<p>second</p>", name="second.html")
    assert web.evaluate("location.href") == second
    web.execute(Key("BACK"))
    assert wait_for(web, f"location.href === {first!r} && document.readyState === 'complete'")
    assert web.evaluate("document.body.innerText").startswith("first")


@pytest.mark.parametrize("name", ["VOLUME_UP", "HOME", "POWER", "APP_SWITCH"])
def test_keys_a_web_page_has_no_equivalent_for_are_refused(web, tmp_path, name):
    load(web, tmp_path, FORM)
    with pytest.raises(InvalidAction, match=name):
        web.execute(Key(name))
    assert events(web) == []


@pytest.mark.parametrize("action", [OpenApp("contacts"), Terminate("success"), Answer("42")],
                         ids=["open_app", "terminate", "answer"])
def test_apps_and_episode_control_never_reach_the_page(web, tmp_path, action):
    load(web, tmp_path, BUTTON)
    with pytest.raises(InvalidAction):
        web.execute(action)
    assert events(web) == []


def test_wait_waits_and_leaves_the_page_alone(web, tmp_path):
    load(web, tmp_path, BUTTON)
    t0 = time.monotonic()
    web.execute(Wait(0.2))
    assert time.monotonic() - t0 >= 0.2
    assert events(web) == []


# -- elements --------------------------------------------------------------------------------------------

ELEMENTS_PAGE = """
<button id=go style='position:absolute;left:0;top:0;width:70px;height:30px'>Go</button>
<a id=help href='#help' style='position:absolute;left:90px;top:6px'>Help</a>
<input id=name placeholder='Your name' style='position:absolute;left:0;top:40px;width:150px;height:24px;
  box-sizing:border-box'>
<input type=checkbox id=agree checked
  style='position:absolute;left:0;top:76px;margin:0;width:16px;height:16px'>
<label for=agree style='position:absolute;left:24px;top:76px'>I agree</label>
<button id=hidden style='display:none'>Hidden</button>
<button id=invisible style='visibility:hidden;position:absolute;left:90px;top:100px'>Invisible</button>
<button id=far style='position:absolute;left:0;top:1000px'>Far</button>
<button id=covered style='position:absolute;left:0;top:110px;width:80px;height:30px'>Covered</button>
<div id=cover style='position:absolute;left:0;top:100px;width:85px;height:50px;background:#888'></div>
<button id=wide style='position:absolute;left:100px;top:170px;width:120px;height:30px'>Wide</button>
"""


def test_elements_are_the_visible_interactive_ones_in_document_order(web, tmp_path):
    load(web, tmp_path, ELEMENTS_PAGE)
    found = web.elements()
    assert [(e.resource_id, e.class_name, e.label) for e in found] == [
        ("go", "web.Button", "Go"), ("help", "web.Link", "Help"), ("name", "web.TextField", "Your name"),
        ("agree", "web.CheckBox", "I agree"), ("", "web.Label", "I agree"), ("wide", "web.Button", "Wide"),
    ]
    assert [e.index for e in found] == list(range(len(found)))
    assert [e.resource_id for e in found if e.checked] == ["agree"]
    assert [e.resource_id for e in found if e.checkable] == ["agree"]
    assert [e.resource_id for e in found if e.editable] == ["name"]
    assert not any(e.focused for e in found)
    assert found[-1].bounds == (100, 170, 160, 200)  # clipped to the viewport
    for e in found:
        x1, y1, x2, y2 = e.bounds
        cx, cy = e.center
        assert 0 <= x1 < x2 <= SIZE[0] and 0 <= y1 < y2 <= SIZE[1], e
        assert x1 <= cx < x2 and y1 <= cy < y2, e
        hit = web.evaluate(f"document.elementFromPoint({cx}, {cy}).id")
        assert hit == e.resource_id or e.class_name == "web.Label", e


def test_elements_follow_what_the_user_did(web, tmp_path):
    load(web, tmp_path, ELEMENTS_PAGE)
    by_id = {e.resource_id: e for e in web.elements()}
    web.tap(*by_id["agree"].center)
    web.tap(*by_id["name"].center)
    web.type_text("Ada")
    after = {e.resource_id: e for e in web.elements()}
    assert not after["agree"].checked
    assert after["name"].focused and after["name"].text == "Ada"
    web.swipe(80, 150, 80, 50, 100)
    web.screenshot()
    scrolled = {e.resource_id: e for e in web.elements()}
    assert web.evaluate("scrollY") == 100 and "go" not in scrolled
    assert scrolled["wide"].bounds == (100, 70, 160, 100)


def test_disabled_controls_are_not_elements(web, tmp_path):
    load(web, tmp_path, "<button id=on>On</button><button id=off disabled>Off</button>"
                        "<fieldset disabled><input id=inside></fieldset>")
    assert [e.resource_id for e in web.elements()] == ["on"]


def test_elements_in_a_transparent_container_are_not_elements(web, tmp_path):
    load(web, tmp_path, "<button id=on>On</button>"
                        "<div style='opacity:0'><button id=ghost>Ghost</button></div>")
    assert [e.resource_id for e in web.elements()] == ["on"]


# -- screenshots -------------------------------------------------------------------------------------------

def test_screenshot_is_the_viewport_in_rgb_and_shows_what_is_where(web, tmp_path):
    load(web, tmp_path, "<div id=box onclick='this.style.background = \"#00f\"' style='position:absolute;"
                        "left:40px;top:60px;width:60px;height:60px;background:#f00'></div>")
    shot = web.screenshot()
    assert shot.size == web.screen_size == SIZE and shot.mode == "RGB"
    for inside in ((40, 60), (70, 90), (99, 119)):
        assert shot.getpixel(inside) == (255, 0, 0), inside
    for outside in ((39, 60), (40, 59), (100, 90), (70, 120), (0, 0), (159, 209)):
        assert shot.getpixel(outside) == (255, 255, 255), outside
    web.tap(70, 90)
    assert web.screenshot().getpixel((70, 90)) == (0, 0, 255)


# -- pages of one browser ----------------------------------------------------------------------------------

def test_pages_of_one_browser_are_independent(pages, tmp_path):
    left, right = pages[1], pages[2]
    url = load(left, tmp_path, FORM)
    load(right, tmp_path, FORM)
    tap_field(left)
    left.type_text("left")
    assert right.evaluate("f.value") == "" and right.evaluate("document.activeElement.id") == ""
    tap_field(right)
    right.type_text("right")
    assert (left.evaluate("f.value"), right.evaluate("f.value")) == ("left", "right")
    load(right, tmp_path, BUTTON, name="other.html")
    assert left.evaluate("location.href") == url and left.evaluate("f.value") == "left"


def test_device_calls_from_two_threads_at_once_both_complete(pages, tmp_path):
    start = threading.Barrier(2)

    def drive(device: WebDevice, word: str) -> tuple[str, int, tuple[int, int]]:
        load(device, tmp_path, FORM, name=f"{word}.html")
        start.wait(timeout=10)
        tap_field(device)
        for _ in range(3):
            device.type_text(word)
            device.screenshot()
            device.elements()
        return device.evaluate("f.value"), len(device.elements()), device.screenshot().size

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(drive, pages[1], "north"), pool.submit(drive, pages[2], "south")]
        results = [f.result(timeout=60) for f in futures]
    assert results == [("north" * 3, 1, SIZE), ("south" * 3, 1, SIZE)]


def test_evaluate_returns_json_values_and_raises_what_the_page_throws(web):
    assert web.evaluate("({a: [1, 'two', null], b: true})") == {"a": [1, "two", None], "b": True}
    assert web.evaluate("Promise.resolve(7)") == 7
    with pytest.raises(DeviceError, match="boom"):
        web.evaluate("(() => { throw new Error('boom'); })()")


# -- lifecycle: a browser that dies, pages that close, pages that load ------------------------------------

@pytest.fixture
def own_pages() -> Iterator[list[WebDevice]]:
    """Two pages of a browser of this test's own (it gets killed or closed)."""
    devices = open_web_devices(2, size=SIZE)
    yield devices
    for device in devices:
        device.close()


def kill(device: WebDevice) -> int:
    pid = device.browser.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_killed_browser_fails_the_next_call_and_the_one_after_works(own_pages, tmp_path):
    web = own_pages[0]
    load(web, tmp_path, BUTTON)
    old = kill(web)
    with pytest.raises(DeviceUnreachable) as raised:
        web.elements()
    assert isinstance(raised.value, DeviceError)
    assert web.browser.restarts == 1 and web.browser.pid not in (None, old)
    assert web.evaluate("location.href") == "about:blank"
    load(web, tmp_path, BUTTON)
    web.tap(70, 65)
    assert [e.label for e in web.elements()] == ["done"]
    assert web.screenshot().size == SIZE
    assert web.browser.restarts == 1


def test_every_page_of_a_killed_browser_reports_its_page_lost(own_pages, tmp_path):
    first, second = own_pages
    load(first, tmp_path, BUTTON)
    load(second, tmp_path, BUTTON)
    kill(first)
    with pytest.raises(DeviceUnreachable):
        first.evaluate("1")
    with pytest.raises(DeviceUnreachable):
        second.elements()
    assert second.evaluate("location.href") == "about:blank"


def test_closing_every_page_stops_the_browser(own_pages, tmp_path):
    first, second = own_pages
    browser, pid = first.browser, first.browser.pid
    first.close()
    first.close()  # closing twice is harmless
    assert browser.alive and second.evaluate("1 + 1") == 2
    with pytest.raises(DeviceError, match="closed"):
        first.screenshot()
    second.close()
    assert browser.pid is None and not browser.alive
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # its renderers exit once the browser is gone
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"processes of the browser's group {pid} outlived it by 10 s")


def test_goto_a_missing_file_raises(web, tmp_path):
    with pytest.raises(DeviceError, match="ERR_FILE_NOT_FOUND"):
        web.goto((tmp_path / "missing.html").as_uri())


def test_goto_about_blank_returns_at_once(web, tmp_path, monkeypatch):
    load(web, tmp_path, BUTTON)
    monkeypatch.setattr(web_device, "LOAD_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    web.goto("about:blank")
    assert time.monotonic() - t0 < 1.0
    assert web.evaluate("location.href") == "about:blank"


def group_members(pgid: int) -> dict[int, str]:
    """Processes of group ``pgid`` other than its leader, with their states (``/proc/PID/stat``)."""
    members = {}
    for proc in Path("/proc").iterdir():
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if proc.name.isdigit() and int(fields[2]) == pgid and int(proc.name) != pgid:
            members[int(proc.name)] = fields[0]
    return members


def test_closing_kills_every_process_of_the_browser(own_pages):
    first, second = own_pages
    pid = first.browser.pid
    helper = max(group_members(pid))
    os.kill(helper, signal.SIGSTOP)  # a child that will not notice its browser is gone
    try:
        first.close()
        second.close()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(s != "Z" for s in group_members(pid).values()):
            time.sleep(0.1)
        assert {p: s for p, s in group_members(pid).items() if s != "Z"} == {}
    finally:
        if helper in group_members(pid):
            os.kill(helper, signal.SIGKILL)


def test_goto_a_fragment_of_the_current_page_returns_at_once(web, tmp_path, monkeypatch):
    url = load(web, tmp_path, BUTTON)
    monkeypatch.setattr(web_device, "LOAD_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    web.goto(url + "#part")
    assert time.monotonic() - t0 < 1.0
    assert web.evaluate("location.hash") == "#part"


# -- elements the DOM does not announce ----------------------------------------------------------------

def test_elements_with_an_added_click_listener_and_svg_shapes_are_listed(web, tmp_path):
    load(web, tmp_path, "<div id=plain>text</div><span id=lis>Pick</span>"
                        "<svg width=150 height=60><circle id=dot cx=30 cy=30 r=20 fill=red></circle>"
                        "<rect id=bare x=80 y=10 width=40 height=40></rect></svg>",
         script="lis.addEventListener('click', () => {}); dot.addEventListener('mousedown', () => {});")
    listed = {e.resource_id: e for e in web.elements()}
    assert set(listed) == {"lis", "dot"}  # the plain div and the shape without a handler are not
    assert listed["lis"].label == "Pick" and listed["dot"].class_name == "web.Circle"


def test_a_partly_covered_element_is_reported_around_a_point_that_shows(web, tmp_path):
    load(web, tmp_path, "<button id=under style='position:absolute;left:10px;top:10px;width:100px;"
                        "height:40px'>Under</button><div style='position:absolute;left:40px;top:10px;"
                        "width:40px;height:40px;background:#888'></div>")
    (under,) = web.elements()
    x, y = under.center
    assert web.evaluate(f"document.elementFromPoint({x}, {y}).id") == "under"
    web.tap(x, y)
    assert [e["target"] for e in events(web, "click")] == ["under"]


def test_a_select_lists_its_options_and_other_fields_say_what_they_are(web, tmp_path):
    load(web, tmp_path, "<select id=s><option>Red</option><option>Green</option></select>"
                        "<textarea id=t></textarea><input id=d type=date><input id=p type=password>")
    kinds = {e.resource_id: (e.class_name, e.details) for e in web.elements()}
    assert kinds == {"s": ("web.Select", ("Red", "Green")), "t": ("web.TextArea", ()),
                     "d": ("web.DateField", ()), "p": ("web.PasswordField", ())}



KILLED_OWNER = """
import os, signal
from emulators.web import open_web_devices
page = open_web_devices(1)[0]
print(page.browser.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_browser_does_not_outlive_a_killed_process_that_started_it(tmp_path):
    proc = subprocess.run([sys.executable, "-c", KILLED_OWNER], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == -signal.SIGKILL
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pid, signal.SIGKILL)
    pytest.fail(f"the browser's process group {pid} outlived its owner by 10 s")
