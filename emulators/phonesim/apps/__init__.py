"""PhoneSim's apps. Every module in this package is imported by ``installed_apps`` and registers its app
class with ``@register``, so adding an app is adding a file (see README.md in this folder)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from emulators.phonesim.apps.base import App, AppContext, register, registered

__all__ = ["App", "AppContext", "installed_apps", "register"]

_NOT_APPS = {"base"}


@lru_cache(maxsize=1)
def installed_apps() -> dict[str, App]:
    """One instance of every registered app, keyed by package, in package order."""
    for module in pkgutil.iter_modules(__path__):
        if module.name not in _NOT_APPS and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
    return {package: cls() for package, cls in sorted(registered().items())}
