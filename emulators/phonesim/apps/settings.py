"""Settings (com.android.settings): network radios, display, sound, location, battery, apps, about phone.

Every control writes through ``PhoneState`` (``set_wifi``, ``put_setting`` …), so the shell's
``settings get`` and ``svc`` see exactly what the UI shows.
"""

from __future__ import annotations

from collections.abc import Callable

from emulators.phonesim.apps import installed_apps
from emulators.phonesim.apps.base import App, AppContext, register
from emulators.phonesim.ui import (
    Button,
    Column,
    Dialog,
    ListView,
    Page,
    Slider,
    Switch,
    Text,
    TextField,
    Widget,
    list_item,
    section_header,
)

PKG = "com.android.settings"
VOLUMES = (("Ring volume", "volume_ring", 0, 7), ("Media volume", "volume_music", 0, 15),
           ("Alarm volume", "volume_alarm", 1, 7))


def switch_row(title: str, subtitle: str | None, checked: bool, on_change: Callable[[bool], None],
               enabled: bool = True) -> Widget:
    """A preference row with a switch; tapping the row or the switch toggles it."""
    switch = Switch(checked, None, rid=f"{PKG}:id/switch_widget", enabled=enabled)
    return list_item(title, subtitle, trailing=switch, on_click=lambda: on_change(not checked),
                     enabled=enabled)


def slider_row(title: str, value: int, lo: int, hi: int, on_change: Callable[[int], None],
               rid: str) -> Widget:
    slider = Slider(value, lo, hi, on_change, rid=f"{PKG}:id/{rid}", desc=title)
    return Column([Text(title, 16), Text(f"{value}", 13, "secondary", rid="android:id/summary"), slider],
                  pad=(16, 8, 16, 8))


def _int_setting(ctx: AppContext, namespace: str, key: str, default: int) -> int:
    try:
        return int(float(ctx.state.get_setting(namespace, key) or default))
    except ValueError:
        return default


@register
class SettingsApp(App):
    package = PKG
    label = "Settings"
    icon = "settings"
    colour = (84, 110, 122)
    routes = {
        "main": ".Settings",
        "network": ".Settings$NetworkDashboardActivity",
        "wifi": ".Settings$WifiSettingsActivity",
        "display": ".Settings$DisplaySettingsActivity",
        "sound": ".Settings$SoundSettingsActivity",
        "location": ".Settings$LocationSettingsActivity",
        "battery": ".Settings$PowerUsageSummaryActivity",
        "apps": ".Settings$ManageApplicationsActivity",
        "about": ".Settings$MyDeviceInfoActivity",
    }

    def page_main(self, ctx: AppContext) -> Page:
        s = ctx.state
        wifi = "Wi-Fi is on" if s.wifi_radio else "Wi-Fi is off"
        wifi = "Airplane mode is on" if s.airplane_mode else wifi
        entries = [
            ("Network & internet", f"{wifi}, mobile data", "network", "network"),
            ("Connected devices", "Bluetooth " + ("on" if s.bluetooth_radio else "off"), "bluetooth",
             "network"),
            ("Apps", f"{len(installed_apps())} apps installed", "apps", "apps"),
            ("Battery", f"{s.battery_level}%", "battery", "battery"),
            ("Display", "Dark theme, brightness", "display", "display"),
            ("Sound & vibration", "Volume, vibration", "sound", "sound"),
            ("Location", "On" if self._location_on(ctx) else "Off", "info", "location"),
            ("About phone", s.get_setting("global", "device_name") or "", "info", "about"),
        ]
        rows: list[Widget] = [
            list_item(title, sub, icon=icon, on_click=lambda r=route: ctx.push(r),
                      rid=f"{PKG}:id/dashboard_tile")
            for title, sub, icon, route in entries
        ]
        return self.page(ctx, "Settings", ListView(ctx.screen, "main", rows))

    def page_network(self, ctx: AppContext) -> Page:
        s = ctx.state
        rows = [
            switch_row("Wi-Fi", "Connected to PhoneSim-5G" if s.wifi_radio else "Off", s.wifi_radio,
                       s.set_wifi),
            switch_row("Bluetooth", "On" if s.bluetooth_radio else "Off", s.bluetooth_radio, s.set_bluetooth),
            switch_row("Airplane mode", None, s.airplane_mode, s.set_airplane_mode),
            switch_row("Mobile data", "PhoneSim Mobile", s.get_setting("global", "mobile_data") == "1",
                       lambda on: s.put_setting("global", "mobile_data", "1" if on else "0"),
                       enabled=not s.airplane_mode),
            list_item("Internet", "PhoneSim-5G" if s.wifi_radio else "Networks available", icon="wifi",
                      on_click=lambda: ctx.push("wifi")),
        ]
        return self.page(ctx, "Network & internet", ListView(ctx.screen, "network", rows))

    def page_wifi(self, ctx: AppContext) -> Page:
        s = ctx.state
        rows: list[Widget] = [switch_row("Use Wi-Fi", None, s.wifi_radio, s.set_wifi)]
        if s.wifi_radio:
            rows.append(list_item("PhoneSim-5G", "Connected", icon="wifi"))
            rows += [list_item(name, "Saved" if name == "Office" else None, icon="wifi")
                     for name in ("Office", "CoffeeShop_Guest", "Neighbour-2.4G")]
        return self.page(ctx, "Internet", ListView(ctx.screen, "wifi", rows))

    def page_display(self, ctx: AppContext) -> Page:
        s = ctx.state
        brightness = _int_setting(ctx, "system", "screen_brightness", 128)
        rows = [
            section_header("Brightness"),
            slider_row("Brightness level", brightness, 0, 255,
                       lambda v: s.put_setting("system", "screen_brightness", str(v)), "brightness_slider"),
            section_header("Appearance"),
            switch_row("Dark theme", None, s.dark_theme,
                       lambda on: s.put_setting("secure", "ui_night_mode", "2" if on else "1")),
        ]
        return self.page(ctx, "Display", ListView(ctx.screen, "display", rows))

    def page_sound(self, ctx: AppContext) -> Page:
        s = ctx.state
        rows: list[Widget] = []
        for title, key, lo, hi in VOLUMES:
            value = _int_setting(ctx, "system", key, lo)
            rows.append(slider_row(title, value, lo, hi,
                                   lambda v, k=key: s.put_setting("system", k, str(v)), f"{key}_seekbar"))
        vibrate = s.get_setting("system", "vibrate_when_ringing") == "1"
        rows.append(switch_row(
            "Vibrate for calls", None, vibrate,
            lambda on: s.put_setting("system", "vibrate_when_ringing", "1" if on else "0")))
        return self.page(ctx, "Sound & vibration", ListView(ctx.screen, "sound", rows))

    def _location_on(self, ctx: AppContext) -> bool:
        return (ctx.state.get_setting("secure", "location_mode") or "0") != "0"

    def page_location(self, ctx: AppContext) -> Page:
        s = ctx.state
        rows = [switch_row("Use location", None, self._location_on(ctx),
                           lambda on: s.put_setting("secure", "location_mode", "3" if on else "0"))]
        return self.page(ctx, "Location", ListView(ctx.screen, "location", rows))

    def page_battery(self, ctx: AppContext) -> Page:
        level = ctx.state.battery_level
        rows = [Column([Text(f"{level}%", 40, "accent", rid=f"{PKG}:id/battery_percent"),
                        Text("Battery level", 14, "secondary")], pad=16)]
        return self.page(ctx, "Battery", ListView(ctx.screen, "battery", rows))

    def page_apps(self, ctx: AppContext) -> Page:
        apps = sorted(installed_apps().values(), key=lambda a: a.label)
        rows = [list_item(a.label, a.package, icon=a.icon) for a in apps]
        return self.page(ctx, "Apps", ListView(ctx.screen, "apps", rows))

    def page_about(self, ctx: AppContext) -> Page:
        s = ctx.state
        name = s.get_setting("global", "device_name") or ""
        rows = [
            list_item("Device name", name, on_click=lambda: ctx.open_dialog("rename", rename=name),
                      rid=f"{PKG}:id/device_name"),
            list_item("Model", "PhoneSim 1"),
            list_item("Android version", "14"),
            list_item("Build number", "PSIM.260302.001"),
            list_item("Battery level", f"{s.battery_level}%"),
        ]
        dialog = None
        if ctx.screen.dialog == "rename":
            dialog = self._rename_dialog(ctx)
        return self.page(ctx, "About phone", ListView(ctx.screen, "about", rows), dialog=dialog)

    def _rename_dialog(self, ctx: AppContext) -> Dialog:
        def save() -> None:
            new = ctx.screen.text("rename").strip()
            if new:
                ctx.state.put_setting("global", "device_name", new)
            ctx.close_dialog()

        field = TextField(ctx.screen, "rename", "Device name", on_submit=save, rid="android:id/edit")
        buttons = [Button("Cancel", ctx.close_dialog, rid="android:id/button2"),
                   Button("OK", save, rid="android:id/button1")]
        return Dialog("Device name", [field], buttons, PKG)
