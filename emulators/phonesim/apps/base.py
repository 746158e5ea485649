"""The app framework: ``App`` (one per package, stateless), ``AppContext`` (what build code sees) and the
registry that the launcher and the activity manager read.

An app keeps no state of its own: persistent data lives in ``PhoneState``, per-page UI state in the
``Screen`` records of its activity stack. So one app object serves every phone and fork.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from emulators.phonesim.state import PhoneState
from emulators.phonesim.ui.chrome import Page
from emulators.phonesim.ui.screen import Screen


class UnknownRoute(KeyError):
    """An app was asked for a page it does not define."""


class Navigator(Protocol):
    """The window manager operations an app may call (implemented by ``Phone``)."""

    state: PhoneState

    def push_screen(self, package: str, screen: Screen) -> None: ...
    def pop_screen(self, package: str) -> None: ...
    def show_toast(self, text: str) -> None: ...


class AppContext:
    """Handed to ``App.build``: the phone state, this page's ``Screen`` and navigation."""

    def __init__(self, nav: Navigator, app: App, screen: Screen) -> None:
        self.nav, self.app, self.screen = nav, app, screen
        self.state: PhoneState = nav.state
        self.package = app.package

    def push(self, route: str, **args: object) -> None:
        """Open page ``route`` of this app on top of the current one."""
        self.nav.push_screen(self.package, self.app.new_screen(route, args))

    def pop(self) -> None:
        """Close the current page (as BACK or the app bar arrow would)."""
        self.nav.pop_screen(self.package)

    def toast(self, text: str) -> None:
        self.nav.show_toast(text)

    def open_dialog(self, name: str, **values: object) -> None:
        """Show dialog ``name`` (the app's ``build`` draws it while ``screen.dialog == name``)."""
        self.screen.dialog = name
        self.screen.values.update(values)

    def close_dialog(self) -> None:
        self.screen.dialog = None
        self.screen.focus = None


class App:
    """Base class: set the class attributes, write ``page_<route>(ctx) -> Page`` methods, ``@register``."""

    package: ClassVar[str]
    label: ClassVar[str]  # launcher label
    icon: ClassVar[str] = "apps"  # glyph name from ``emulators.phonesim.ui.glyphs``
    colour: ClassVar[tuple[int, int, int]] = (90, 110, 140)  # launcher icon background
    routes: ClassVar[dict[str, str]] = {"main": ".MainActivity"}  # route -> activity (".X" = package.X)
    main_route: ClassVar[str] = "main"

    def activity_for(self, route: str) -> str:
        if route not in self.routes:
            raise UnknownRoute(f"{self.package} has no page {route!r}; it has {sorted(self.routes)}")
        name = self.routes[route]
        return self.package + name if name.startswith(".") else name

    def route_for(self, activity: str) -> str | None:
        """The route of an activity name (full, or short ".Name"), or None if the app has none."""
        full = self.package + activity if activity.startswith(".") else activity
        for route in self.routes:
            if self.activity_for(route) == full:
                return route
        return None

    def new_screen(self, route: str, args: dict[str, object] | None = None) -> Screen:
        return Screen(activity=self.activity_for(route), route=route, args=dict(args or {}))

    def build(self, ctx: AppContext) -> Page:
        """The page for ``ctx.screen``; dispatches to ``page_<route>``."""
        method = getattr(self, f"page_{ctx.screen.route}", None)
        if method is None:
            raise UnknownRoute(f"{type(self).__name__} has no method page_{ctx.screen.route}")
        page: Page = method(ctx)
        return page

    def on_back(self, ctx: AppContext) -> bool:
        """Handle BACK inside the page; return True if consumed. Default: close an open dialog."""
        if ctx.screen.dialog is not None:
            ctx.close_dialog()
            return True
        return False

    def page(self, ctx: AppContext, title: str | None, body: object, **kw: object) -> Page:
        """A ``Page`` with this app's package and, below the root page, a working back arrow."""
        if "back" not in kw and ctx.screen.route != self.main_route:
            kw["back"] = ctx.pop
        return Page(title, body, package=self.package, **kw)  # type: ignore[arg-type]


_REGISTRY: dict[str, type[App]] = {}


class DuplicateApp(ValueError):
    """Two app classes claim the same package."""


def register(cls: type[App]) -> type[App]:
    """Class decorator: make ``cls`` an installed app."""
    existing = _REGISTRY.get(cls.package)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise DuplicateApp(f"{cls.package} is registered by {existing.__qualname__} and {cls.__qualname__}")
    _REGISTRY[cls.package] = cls
    return cls


def registered() -> dict[str, type[App]]:
    return dict(_REGISTRY)
