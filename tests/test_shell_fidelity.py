"""PhoneSim's shell answers the queries ADB client libraries send, in a form their own parsers accept.

The regular expressions below are test data copied from the libraries (each names the repository and file);
they run on a real ``SimDevice`` and the values they extract are checked against the phone's state: the
resolution, the focused app, the battery level, the radios. docs/SHELL_FIDELITY.md says which fields are
simulated and where the output differs from a real Android 14 device.
"""

from __future__ import annotations

import io
import re
import struct

import pytest
from PIL import Image

from emulators.phonesim import SimDevice

# openatx/adbutils, adbutils/shell.py (ShellExtension: _wm_size, rotation, app_current, list_packages)
ADBUTILS_WM_SIZE = r"Physical size: (\d+)x(\d+)"
ADBUTILS_ORIENTATION = r".*?orientation=(?P<orientation>\d+)"
ADBUTILS_DISPLAY = (r".*DisplayViewport{.*?valid=true, .*?orientation=(?P<orientation>\d+), "
                    r".*?deviceWidth=(?P<width>\d+), deviceHeight=(?P<height>\d+).*")
ADBUTILS_FOCUS = r"mCurrentFocus=Window{.*\s+(?P<package>[^\s]+)/(?P<activity>[^\s]+)\}"
ADBUTILS_RESUMED = r"mResumedActivity: ActivityRecord\{.*?\s+(?P<package>[^\s]+)/(?P<activity>[^\s]+)\s.*?\}"
ADBUTILS_TOP = r"ACTIVITY (?P<package>[^\s]+)/(?P<activity>[^/\s]+) \w+ pid=(?P<pid>\d+)"
ADBUTILS_PACKAGE = r"^package:([^\s]+)\r?$"
ADBUTILS_SCREEN_ON = "mHoldingDisplaySuspendBlocker=true"  # is_screen_on: a substring test
# openatx/adbutils, adbutils/screenshot.py (__get_real_display_id)
ADBUTILS_DISPLAY_ID = r"Display (\d+) "
# appium/appium-adb, lib/tools/app-commands.ts (getFocusedPackageAndActivity, listPackages)
APPIUM_FOCUSED_APP = r"^\s*mFocusedApp.+Record\{.*\s([^\s\/\}]+)\/([^\s\/\}\,]+)\,?(\s[^\s\/\}]+)*\}"
APPIUM_CURRENT_FOCUS = r"^\s*mCurrentFocus.+\{.+\s([^\s\/]+)\/([^\s]+)\b"
APPIUM_PACKAGE = r"^package:(\S+)(?:\s+versionCode:(\d+))?"
# appium/appium-adb, lib/tools/device-settings.ts (getScreenSize, getScreenDensity, getSurfaceOrientation)
APPIUM_SIZE = r"Physical size: ([^\r?\n]+)*"
APPIUM_DENSITY = r"Physical density: ([^\r?\n]+)*"
APPIUM_SURFACE_ORIENTATION = r"SurfaceOrientation: \d"
# appium/appium-adb, lib/tools/lockmgmt.ts (isScreenLocked and its helpers, swipeUp)
APPIUM_LOCKSCREEN_STRINGS = ("mShowingLockscreen=true", "mDreamingLockscreen=true")
APPIUM_KEYGUARD_FOCUS = r"mCurrentFocus.+Keyguard"
APPIUM_SCREEN_ON_FULLY = r"mScreenOnFully=\w+"
APPIUM_DOZING = r"^[\s\w]+wakefulness[^=]*=Dozing$"
APPIUM_SCREEN_STATE_OFF = r"\s+screenState=SCREEN_STATE_OFF"
APPIUM_INIT_SIZE = r"init=(\d+)x(\d+)"
# google-research/android_world, android_world/env/adb_utils.py (screen size, logical frame, orientation)
ANDROID_WORLD_SIZE = r"Physical size: (\d+)x(\d+)"
ANDROID_WORLD_LOGICAL = r"logicalFrame=\[0, 0, (\d+), (\d+)\]"
ANDROID_WORLD_PHYSICAL = r"physicalFrame=\[(\d+), (\d+), (\d+), (\d+)\]"
ANDROID_WORLD_ROTATION = r"mCurrentRotation=ROTATION_(\d+)"
# Genymobile/scrcpy, server/src/main/java/com/genymobile/scrcpy/wrappers/DisplayManager.java
# (parseDisplayInfo, for display id 0)
SCRCPY_DISPLAY_INFO = (r"^    mOverrideDisplayInfo=DisplayInfo\{\".*?, displayId 0.*?(, FLAG_.*)?, "
                       r"real ([0-9]+) x ([0-9]+).*?, rotation ([0-9]+).*?, density ([0-9]+).*?, "
                       r"layerStack ([0-9]+)")
# openatx/uiautomator2, uiautomator2/__init__.py (app_list)
UIAUTOMATOR2_PACKAGE = r"package:([^\s]+)"

SETTINGS_WIFI = "com.android.settings/.Settings$WifiSettingsActivity"


def out(device: SimDevice, cmd: str) -> str:
    result = device.shell(cmd)
    assert result.exit_code == 0, (cmd, result.output)
    return result.output


def adbutils_battery(output: str) -> dict[str, str]:
    """adbutils ShellExtension.battery's rule (adbutils/shell.py): every line with ':' split at the first."""
    pairs = {}
    for line in output.splitlines():
        if ":" in line:
            key, value = line.strip().split(":", 1)
            pairs[key.strip()] = value.strip()
    return pairs


@pytest.fixture
def device() -> SimDevice:
    return SimDevice(seed=0)


SIZES = [("default", (1080, 2400), 480), ("small", (540, 1200), 240)]


@pytest.mark.parametrize(("resolution", "size", "dpi"), SIZES)
def test_every_size_query_gives_the_phones_resolution(resolution: str, size: tuple[int, int],
                                                       dpi: int) -> None:
    device = SimDevice(seed=0, resolution=resolution)
    width, height = size
    assert device.screen_size == size
    wm_size, wm_density = out(device, "wm size"), out(device, "wm density")
    assert re.search(ADBUTILS_WM_SIZE, wm_size).groups() == (str(width), str(height))
    assert re.search(ANDROID_WORLD_SIZE, wm_size).groups() == (str(width), str(height))
    assert re.search(APPIUM_SIZE, wm_size).group(1).strip() == f"{width}x{height}"
    assert int(re.search(APPIUM_DENSITY, wm_density).group(1)) == dpi
    assert int(out(device, "getprop ro.sf.lcd_density")) == dpi
    display = out(device, "dumpsys display")
    m = re.search(ADBUTILS_DISPLAY, display)
    assert (m["orientation"], m["width"], m["height"]) == ("0", str(width), str(height))
    m = re.search(SCRCPY_DISPLAY_INFO, display, re.MULTILINE)
    assert m is not None and m.group(2, 3, 4, 5, 6) == (str(width), str(height), "0", str(dpi), "0")
    device_info = f'{{"Built-in Screen": uniqueId="local:4619827259835644672", {width} x {height}, modeId 1'
    assert "  DisplayDeviceInfo" + device_info in display
    assert re.search(APPIUM_INIT_SIZE, out(device, "dumpsys window")).groups() == (str(width), str(height))
    logical = out(device, "dumpsys input | grep logicalFrame")
    assert set(re.findall(ANDROID_WORLD_LOGICAL, logical)) == {(str(width), str(height))}
    physical = out(device, "dumpsys input | grep physicalFrame")
    assert set(re.findall(ANDROID_WORLD_PHYSICAL, physical)) == {("0", "0", str(width), str(height))}


def test_orientation_is_portrait_everywhere(device: SimDevice) -> None:
    display = out(device, "dumpsys display")
    first = next(re.search(ADBUTILS_ORIENTATION, line) for line in display.splitlines()
                 if re.search(ADBUTILS_ORIENTATION, line))
    assert first["orientation"] == "0"  # adbutils.rotation() reads the first orientation= line
    assert "    mCurrentOrientation=0\n" in display
    rotation = out(device, "dumpsys window | grep mCurrentRotation")
    assert [int(r) // 90 for r in re.findall(ANDROID_WORLD_ROTATION, rotation)] == [0]
    assert out(device, "settings get system user_rotation") == "0\n"
    inputs = out(device, "dumpsys input")
    assert "      InputDeviceOrientation: 0\n" in inputs
    assert re.search(APPIUM_SURFACE_ORIENTATION, inputs) is None  # as on Android 13+: the field was renamed


def _focus_everywhere(device: SimDevice) -> dict[str, tuple[str, str]]:
    windows = out(device, "dumpsys window windows")
    displays = out(device, "dumpsys window displays")
    m_adb = re.search(ADBUTILS_FOCUS, windows)
    m_app = re.search(APPIUM_FOCUSED_APP, displays, re.MULTILINE)
    m_cur = re.search(APPIUM_CURRENT_FOCUS, displays, re.MULTILINE)
    m_res = re.search(ADBUTILS_RESUMED, out(device, "dumpsys activity activities"))
    m_top = re.search(ADBUTILS_TOP, out(device, "dumpsys activity top"))
    return {"adbutils window": m_adb.group("package", "activity"), "appium mFocusedApp": m_app.group(1, 2),
            "appium mCurrentFocus": m_cur.group(1, 2), "adbutils resumed": m_res.group("package", "activity"),
            "adbutils top": m_top.group("package", "activity")}


def _expand(package: str, activity: str) -> str:
    return package + activity if activity.startswith(".") else activity


@pytest.mark.parametrize("launch", ["monkey -p com.android.settings -c android.intent.category.LAUNCHER 1",
                                    f"am start -n '{SETTINGS_WIFI}'",
                                    "am start -n com.phonesim.notes/.NotesListActivity",
                                    "input keyevent HOME", "input keyevent APP_SWITCH"])
def test_the_foreground_activity_is_the_one_on_screen(device: SimDevice, launch: str) -> None:
    out(device, launch)
    package, cls = device.phone.focused_window().split("/")
    found = _focus_everywhere(device)
    assert {p for p, _ in found.values()} == {package}, found
    assert {_expand(p, a) for p, a in found.values()} == {cls}, found
    if launch.startswith("monkey"):
        assert package == "com.android.settings"
    elif launch.endswith("HOME"):
        assert package == "com.android.launcher3"


def test_force_stop_returns_the_focus_to_the_launcher(device: SimDevice) -> None:
    started = out(device, f"am start -n '{SETTINGS_WIFI}'")
    assert started == f"Starting: Intent {{ cmp={SETTINGS_WIFI} }}\n"
    assert out(device, "am force-stop com.android.settings") == ""
    assert {p for p, _ in _focus_everywhere(device).values()} == {"com.android.launcher3"}
    intent = out(device, "am start -W -S -a android.intent.action.MAIN -c android.intent.category.LAUNCHER "
                         "-f 0x10200000 -n com.android.settings/.Settings")
    assert intent.splitlines()[0] == ("Starting: Intent { act=android.intent.action.MAIN "
                                      "cat=[android.intent.category.LAUNCHER] flg=0x10200000 "
                                      "cmp=com.android.settings/.Settings }")
    assert "Status: ok\n" in intent and "Activity: com.android.settings/.Settings\n" in intent


def test_activity_top_pid_matches_the_window_session(device: SimDevice) -> None:
    out(device, "monkey -p com.android.settings -c android.intent.category.LAUNCHER 1")
    pid = re.search(ADBUTILS_TOP, out(device, "dumpsys activity top"))["pid"]
    window = out(device, "dumpsys window windows")
    assert f"mSession=Session{{{window.split('mSession=Session{')[3].split()[0]} {pid}:u0a" in window
    assert f" {pid}:com.android.settings/u0a" in out(device, "dumpsys activity activities")


@pytest.mark.parametrize(("level", "status"), [(87, "2"), (42, "2"), (100, "5")])
def test_battery_block_reads_the_phones_level(device: SimDevice, level: int, status: str) -> None:
    device.state.battery_level = level
    battery = out(device, "dumpsys battery")
    assert battery.startswith("Current Battery Service state:\n")
    pairs = adbutils_battery(battery)
    assert (pairs["level"], pairs["scale"], pairs["health"]) == (str(level), "100", "2")
    assert pairs["status"] == status
    assert (pairs["AC powered"], pairs["USB powered"], pairs["present"]) == ("false", "true", "true")
    assert int(pairs["temperature"]) / 10 == 25.0 and pairs["technology"] == "Li-ion"
    assert f"  mBatteryLevel={level}\n" in out(device, "dumpsys power")


def test_the_screen_is_on_and_unlocked(device: SimDevice) -> None:
    window, power = out(device, "dumpsys window"), out(device, "dumpsys power")
    assert ADBUTILS_SCREEN_ON in power and "  mWakefulness=Awake\n" in power
    assert power.rstrip().endswith("Display Power: state=ON")
    assert not any(s in window for s in APPIUM_LOCKSCREEN_STRINGS)
    assert re.search(APPIUM_KEYGUARD_FOCUS, window, re.IGNORECASE) is None
    assert re.search(APPIUM_SCREEN_ON_FULLY, window, re.IGNORECASE).group(0).split("=")[1] == "true"
    assert re.search(APPIUM_DOZING, power, re.IGNORECASE | re.MULTILINE) is None
    assert re.search(APPIUM_SCREEN_STATE_OFF, window, re.IGNORECASE) is None


def test_package_lists_split_system_and_third_party(device: SimDevice) -> None:
    every = re.findall(ADBUTILS_PACKAGE, out(device, "pm list packages"), re.MULTILINE)
    system = re.findall(ADBUTILS_PACKAGE, out(device, "pm list packages -s"), re.MULTILINE)
    third = re.findall(UIAUTOMATOR2_PACKAGE, out(device, "pm list packages -3"))
    assert sorted(every) == sorted(device.phone.packages()) and "com.android.settings" in system
    assert third == ["com.phonesim.notes"] and sorted(system + third) == sorted(every)
    versions = re.findall(APPIUM_PACKAGE, out(device, "pm list packages --show-versioncode"), re.MULTILINE)
    assert [p for p, _ in versions] == every and all(v.isdigit() for _, v in versions)
    assert out(device, "pm path com.android.settings") == "package:/system/priv-app/Settings/Settings.apk\n"
    assert re.fullmatch(r"package:/data/app/~~[\w-]+==/com\.phonesim\.notes-[\w-]+==/base\.apk\n",
                        out(device, "pm path com.phonesim.notes"))
    assert device.shell("pm path com.nope") == device.shell("false")  # nothing printed, status 1
    assert device.shell("pm list packages -x").exit_code == 255


def test_getprop_lists_every_property_in_brackets(device: SimDevice) -> None:
    listing = out(device, "getprop")
    props = dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]$", listing, re.MULTILINE))
    assert len(props) == len(listing.splitlines()) and list(props) == sorted(props)
    assert int(out(device, "getprop ro.build.version.sdk")) == 34  # android_world get_api_level: int(output)
    for key in ("ro.build.version.sdk", "ro.product.model", "ro.product.cpu.abi", "ro.serialno"):
        assert out(device, f"getprop {key}") == props[key] + "\n"
    assert props["ro.product.cpu.abilist"].split(",")[0] == props["ro.product.cpu.abi"]


def test_settings_follow_the_radios(device: SimDevice) -> None:
    assert out(device, "cmd connectivity airplane-mode enable") == ""
    assert out(device, "settings get global airplane_mode_on; settings get global wifi_on") == "1\n0\n"
    assert out(device, "dumpsys wifi").startswith("Wi-Fi is disabled\n")
    out(device, "cmd connectivity airplane-mode disable")
    assert out(device, "dumpsys wifi").startswith("Wi-Fi is enabled\n")
    listing = out(device, "settings list global")
    assert all(re.fullmatch(r"[\w.]+=.*", line) for line in listing.splitlines())
    assert "airplane_mode_on=0" in listing.splitlines() and "adb_enabled=1" in listing.splitlines()
    out(device, "settings put global window_animation_scale 0")
    assert out(device, "settings get global window_animation_scale") == "0\n"


@pytest.mark.parametrize("resolution", ["default", "small"])
def test_screencap_headers(resolution: str) -> None:
    device = SimDevice(seed=0, resolution=resolution)
    width, height = device.screen_size
    raw = device.exec_out("screencap")
    assert struct.unpack("<4I", raw[:16]) == (width, height, 1, 0)  # RGBA_8888, dataspace 0 (unknown)
    assert len(raw) == 16 + width * height * 4
    png = device.exec_out("screencap -p")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">2I", png[16:24]) == (width, height)
    assert Image.open(io.BytesIO(png)).size == (width, height)


def test_surface_flinger_display_id_and_service_list(device: SimDevice) -> None:
    ids = re.findall(ADBUTILS_DISPLAY_ID, out(device, "dumpsys SurfaceFlinger --display-id"))
    assert ids == ["4619827259835644672"]
    services = out(device, "dumpsys -l").split()
    assert {"activity", "battery", "display", "input", "power", "window"} <= set(services)
    result = device.shell("dumpsys nosuchservice")
    assert result.exit_code != 0 and "Can't find service: nosuchservice" in result.output
