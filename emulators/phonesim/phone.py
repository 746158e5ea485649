"""``Phone``: PhoneSim's UI side. It implements ``UiHost`` for the shell: input, rendering, the
accessibility dump and the activity manager, over ``PhoneState`` (data) and ``SystemUi`` (stacks).

Every tap, swipe, text input and key event advances the simulated clock by one action. Frames are
rebuilt only when something changed (state version, an input, the minute shown by the clock).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from PIL import Image, ImageDraw

from emulators.phonesim.apps import App, AppContext, installed_apps
from emulators.phonesim.state import PhoneState
from emulators.phonesim.system import (
    LAUNCHER,
    LAUNCHER_ACTIVITY,
    RECENTS_ACTIVITY,
    SYSTEM_PACKAGES,
    SYSTEMUI,
    TOAST_MS,
    Frame,
    SystemUi,
    Task,
    bar_heights,
    draw_nav_bar,
    draw_status_bar,
    draw_toast,
    launcher_page,
    nav_bar,
    recents_page,
    wallpaper,
)
from emulators.phonesim.ui import Canvas, Keyboard, Look, Page, Screen, Slider, TextField, Widget
from emulators.phonesim.ui.theme import resolve_resolution
from emulators.phonesim.ui.tree import click_target, dump_nodes, hit_path, scroll_target

KEY_HOME, KEY_BACK, KEY_ENTER, KEY_DEL, KEY_APP_SWITCH = 3, 4, 66, 67, 187
KEY_VOLUME_UP, KEY_VOLUME_DOWN = 24, 25
LONG_PRESS_MS = 500
XML_HEADER = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"


@dataclass
class Window:
    """The placed widget trees of one frame."""

    page: Page
    package: str
    nav: Frame
    keyboard: Keyboard | None
    field: TextField | None  # the focused text field
    on_wallpaper: bool


def _all_widgets(root: Widget) -> list[Widget]:
    out, todo = [], [root]
    while todo:
        w = todo.pop()
        out.append(w)
        todo.extend(w.kids())
        if isinstance(w, Page) and w.dialog is not None:
            todo.append(w.dialog)
    return out


class Phone:
    """An Android-like phone: system UI plus the installed apps, driven by ``UiHost`` calls."""

    def __init__(self, state: PhoneState | None = None, *, seed: int = 0,
                 resolution: str | tuple[int, int] = "default", randomize: bool = True) -> None:
        self.state = state if state is not None else PhoneState()
        self.look = Look.make(resolve_resolution(resolution), seed, randomize)
        self.apps: dict[str, App] = installed_apps()
        self.ui = SystemUi()
        self._serial = 0  # bumped by every input, so cached trees and frames are rebuilt
        self._window_key: tuple[int, ...] | None = None
        self._window: Window | None = None
        self._frame_key: tuple[int, ...] | None = None
        self._frame: Image.Image | None = None
        self._raw: tuple[Image.Image, bytes] | None = None

    # -- copying -------------------------------------------------------------------------------------
    def fork(self) -> Phone:
        """An independent copy: state and stacks deep-copied; look, apps and the current frame shared."""
        twin = Phone.__new__(Phone)
        twin.look, twin.apps = self.look, self.apps
        twin.state, twin.ui = copy.deepcopy((self.state, self.ui))
        twin._serial = self._serial
        twin._window_key, twin._window = None, None  # widget callbacks point at this phone's records
        twin._frame_key, twin._frame = self._frame_key, self._frame  # never drawn on once made
        twin._raw = self._raw
        return twin

    @property
    def screen_size(self) -> tuple[int, int]:
        return self.look.width, self.look.height

    # -- navigation (the ``Navigator`` apps use) -----------------------------------------------------
    def push_screen(self, package: str, screen: Screen) -> None:
        self.ui.tasks.setdefault(package, Task(package)).screens.append(screen)

    def pop_screen(self, package: str) -> None:
        """Finish the top page; from an app's root page go home, keeping the task (Android 12+)."""
        task = self.ui.tasks.get(package)
        if task is None:
            return
        if len(task.screens) > 1:
            task.screens.pop()
        elif self.ui.foreground == package:
            self.ui.foreground = None

    def show_toast(self, text: str) -> None:
        self.ui.toast, self.ui.toast_until_ms = text, self.state.now_ms + TOAST_MS

    # -- activity manager ----------------------------------------------------------------------------
    def packages(self) -> list[str]:
        return sorted(set(self.apps) | set(SYSTEM_PACKAGES))

    def launch(self, package: str) -> bool:
        app = self.apps.get(package)
        if app is None:
            return False
        task = self.ui.tasks.get(package)
        if task is None or not task.screens:
            self.ui.tasks[package] = Task(package, [app.new_screen(app.main_route)])
        self.ui.bring_to_front(package)
        self._serial += 1
        return True

    def start_activity(self, package: str, activity: str | None) -> bool:
        """``am start -n``: a route already on the stack is brought to the top, else pushed."""
        app = self.apps.get(package)
        if app is None:
            return False
        if activity is None:
            return self.launch(package)
        route = app.route_for(activity)
        if route is None:
            return False
        task = self.ui.tasks.setdefault(package, Task(package))
        routes = [s.route for s in task.screens]
        if route in routes:
            del task.screens[routes.index(route) + 1:]
        else:
            task.screens.append(app.new_screen(route))
        self.ui.bring_to_front(package)
        self._serial += 1
        return True

    def force_stop(self, package: str) -> None:
        self.ui.tasks.pop(package, None)
        if package in self.ui.recents:
            self.ui.recents.remove(package)
        if self.ui.foreground == package:
            self.ui.foreground = None
        self._serial += 1

    def focused_window(self) -> str:
        if self.ui.overview:
            return f"{LAUNCHER}/{RECENTS_ACTIVITY}"
        top = self.ui.top()
        if top is None or self.ui.foreground is None:
            return f"{LAUNCHER}/{LAUNCHER_ACTIVITY}"
        return f"{self.ui.foreground}/{top.activity}"

    # -- building the window -------------------------------------------------------------------------
    def _toast_visible(self) -> bool:
        return self.ui.toast is not None and self.state.now_ms < self.ui.toast_until_ms

    def _key(self) -> tuple[int, ...]:
        return (self.state.version, self._serial, self.state.now_ms // 60_000, int(self._toast_visible()))

    def window(self) -> Window:
        """The current placed widget trees (rebuilt when anything changed)."""
        key = self._key()
        if self._window is None or self._window_key != key:
            self._window = self._build()
            self._window_key = key
        return self._window

    def _build_page(self) -> tuple[Page, str]:
        ui = self.ui
        if ui.overview:
            page = recents_page(ui, self.apps, ui.launcher_screen, self._resume, self._remove_task,
                                self._clear_tasks)
            return page, LAUNCHER
        top = ui.top()
        if top is None or ui.foreground is None:
            return launcher_page(list(self.apps.values()), self.state, self.look, self._open), LAUNCHER
        app = self.apps[ui.foreground]
        return app.build(AppContext(self, app, top)), app.package

    def _build(self) -> Window:
        look = self.look
        status_h, nav_h = bar_heights(look)
        page, package = self._build_page()
        top = self.ui.top()
        field = None
        if top is not None and top.focus is not None:
            fields = [w for w in _all_widgets(page) if isinstance(w, TextField) and w.focused]
            field = fields[0] if fields else None
        bottom = look.height - nav_h
        keyboard = None
        if field is not None:
            keyboard = Keyboard(self._type_keyboard, lambda: self._edit(KEY_DEL),
                                lambda: self._edit(KEY_ENTER))
            kb_h = keyboard.measure(look, look.width)
            keyboard.place(look, (0, bottom - kb_h, look.width, bottom))
            bottom -= kb_h
        page.place(look, (0, status_h, look.width, bottom))
        nav = nav_bar(look, self._system_key)
        on_wallpaper = package == LAUNCHER and not self.ui.overview
        return Window(page, package, nav, keyboard, field, on_wallpaper)

    # -- launcher and recents callbacks --------------------------------------------------------------
    def _open(self, package: str) -> None:
        self.launch(package)

    def _resume(self, package: str) -> None:
        self.ui.bring_to_front(package)

    def _remove_task(self, package: str) -> None:
        self.force_stop(package)

    def _clear_tasks(self) -> None:
        for package in list(self.ui.tasks):
            self.force_stop(package)
        self.ui.overview = False

    # -- input ---------------------------------------------------------------------------------------
    def _on_screen(self, x: float, y: float) -> bool:
        return 0 <= x < self.look.width and 0 <= y < self.look.height

    def _layers(self, x: float, y: float) -> Widget | None:
        """The widget tree that receives a touch at (x, y); None when it lands on nothing."""
        win = self.window()
        status_h, _ = bar_heights(self.look)
        if win.nav.contains(x, y):
            return win.nav
        if y < status_h:
            return None
        if win.keyboard is not None and win.keyboard.contains(x, y):
            return win.keyboard
        dialog = win.page.dialog
        if dialog is not None:
            if dialog.contains(x, y):
                return dialog
            self._dismiss_dialog()
            return None
        return win.page

    def _dismiss_dialog(self) -> None:
        top = self.ui.top()
        if top is not None and self.ui.foreground is not None:
            self.apps[self.ui.foreground].on_back(AppContext(self, self.apps[self.ui.foreground], top))

    def _touch(self, x: float, y: float, long: bool) -> None:
        layer = self._layers(x, y)
        if layer is None:
            return
        target = click_target(hit_path(layer, x, y), long)
        if target is None:
            return
        if isinstance(target, Slider):
            target.set_from_x(x)
        elif long and target.on_long_click is not None:
            target.on_long_click()
        elif target.on_click is not None:
            target.on_click()

    def tap(self, x: float, y: float) -> None:
        if not self._on_screen(x, y):
            return
        self.state.advance()
        self._touch(x, y, long=False)
        self._serial += 1

    def swipe(self, x1: float, y1: float, x2: float, y2: float, duration_ms: int = 300) -> None:
        """A drag from (x1, y1); in place it is a tap, or a long press when held ≥ 500 ms."""
        if not self._on_screen(x1, y1):
            return
        self.state.advance()
        x2 = min(max(x2, 0), self.look.width - 1)
        y2 = min(max(y2, 0), self.look.height - 1)
        if abs(x2 - x1) <= self.look.px(8) and abs(y2 - y1) <= self.look.px(8):
            self._touch(x1, y1, long=duration_ms >= LONG_PRESS_MS)
        else:
            self._drag(x1, y1, x2, y2)
        self._serial += 1

    def _drag(self, x1: float, y1: float, x2: float, y2: float) -> None:
        layer = self._layers(x1, y1)
        if layer is None:
            return
        path = hit_path(layer, x1, y1)
        target = click_target(path)
        if isinstance(target, Slider) and abs(x2 - x1) >= abs(y2 - y1):
            target.set_from_x(x2)
            return
        lst = scroll_target(path)
        if lst is not None:
            lst.scroll_by(y1 - y2)

    def input_text(self, text: str) -> None:
        self.state.advance()
        field = self.window().field
        if field is not None:
            field.insert(text)
        self._serial += 1

    def keyevent(self, code: int) -> None:
        self.state.advance()
        self._system_key(code)

    def _type_keyboard(self, text: str) -> None:
        field = self.window().field
        if field is not None:
            field.insert(text)

    def _edit(self, code: int) -> None:
        field = self.window().field
        if field is None:
            return
        if code == KEY_DEL:
            field.delete()
        else:
            field.enter()

    def _system_key(self, code: int) -> None:
        """A key press (from ``input keyevent`` or the navigation bar); the clock was already advanced."""
        ui = self.ui
        if code in (KEY_DEL, KEY_ENTER):
            self._edit(code)
        elif code == KEY_HOME:
            ui.foreground, ui.overview = None, False
        elif code == KEY_APP_SWITCH:
            ui.overview = not ui.overview
        elif code == KEY_BACK:
            self._back()
        elif code in (KEY_VOLUME_UP, KEY_VOLUME_DOWN):
            level = int(self.state.get_setting("system", "volume_music") or "0")
            step = 1 if code == KEY_VOLUME_UP else -1
            self.state.put_setting("system", "volume_music", str(min(15, max(0, level + step))))
        self._serial += 1

    def _back(self) -> None:
        ui = self.ui
        if ui.overview:
            ui.overview = False
            return
        top = ui.top()
        if top is None or ui.foreground is None:
            return
        if top.focus is not None:  # first BACK hides the keyboard
            top.focus = None
            return
        app = self.apps[ui.foreground]
        if not app.on_back(AppContext(self, app, top)):
            self.pop_screen(ui.foreground)

    # -- output --------------------------------------------------------------------------------------
    def render(self) -> Image.Image:
        """The current screen as a new RGB image of ``screen_size``."""
        return self._current_frame().copy()

    def _current_frame(self) -> Image.Image:
        """The cached frame, redrawn when the screen changed; never drawn on once made."""
        key = self._key()
        if self._frame is None or self._frame_key != key:
            self._frame = self._draw(self.window())
            self._frame_key = key
        return self._frame

    def raw_rgba(self) -> bytes:
        """The screen as RGBA bytes (the raw ``screencap`` payload), cached while it is unchanged."""
        frame = self._current_frame()
        if self._raw is None or self._raw[0] is not frame:
            self._raw = (frame, frame.convert("RGBA").tobytes())
        return self._raw[1]

    def _draw(self, win: Window) -> Image.Image:
        look = self.look
        pal = look.palette(self.state.dark_theme)
        if win.on_wallpaper:
            image = wallpaper(look).copy()
            cv = Canvas(image, ImageDraw.Draw(image), look, pal)
        else:
            cv = Canvas.blank(look, pal)
        win.page.draw(cv)
        if win.page.dialog is not None:
            _scrim(cv)
            win.page.dialog.draw(cv)
        draw_status_bar(cv, self.state, win.on_wallpaper)
        if win.keyboard is not None:
            win.keyboard.draw(cv)
        if self._toast_visible() and self.ui.toast:
            above = win.nav.bounds[1] if win.keyboard is None else win.keyboard.bounds[1]
            draw_toast(cv, self.ui.toast, above)
        draw_nav_bar(cv, win.nav, win.on_wallpaper)
        return cv.image

    def dump_xml(self) -> str:
        """The current screen as ``uiautomator dump`` writes it (the keyboard, like an IME, is left out)."""
        win = self.window()
        full = (0, 0, self.look.width, self.look.height)
        out = [XML_HEADER, '<hierarchy rotation="0">']
        dump_nodes(win.page.dialog or win.page, win.package, 0, full, out)
        dump_nodes(win.nav, SYSTEMUI, 1, full, out)
        out.append("</hierarchy>")
        return "".join(out)


def _scrim(cv: Canvas) -> None:
    """Dim everything behind a dialog."""
    shade = Image.new("RGB", cv.image.size, cv.pal.scrim)
    cv.image.paste(Image.blend(cv.image, shade, 0.45))
