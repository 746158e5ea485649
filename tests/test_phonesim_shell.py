"""PhoneSim's shell interpreter: parsing, builtins, files, settings, content providers, UI commands.

Most tests run against ``RecordingHost``, a test double of the UI side only (fixed screen and dump) that
records the input it receives; the end-to-end tests at the bottom drive a real ``SimDevice``.
"""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from emulators.phonesim.shell.interpreter import PhoneShell
from emulators.phonesim.state import PhoneState

XML = ('<?xml version="1.0" encoding="UTF-8"?><hierarchy rotation="0"><node index="0" text="OK" '
       'class="android.widget.Button" bounds="[0,0][100,100]" /></hierarchy>')
PACKAGES = ["com.android.settings", "com.android.contacts", "com.android.messaging"]


class RecordingHost:
    """A UiHost with a fixed 1080x2400 solid screen and a fixed dump; records input and launches."""

    def __init__(self) -> None:
        self.state = PhoneState()
        self.calls: list[tuple] = []
        self.focus = "com.android.launcher3/com.android.launcher3.Launcher"

    @property
    def screen_size(self) -> tuple[int, int]:
        return (1080, 2400)

    def tap(self, x: float, y: float) -> None:
        self.calls.append(("tap", x, y))

    def swipe(self, x1: float, y1: float, x2: float, y2: float, duration_ms: int) -> None:
        self.calls.append(("swipe", x1, y1, x2, y2, duration_ms))

    def input_text(self, text: str) -> None:
        self.calls.append(("text", text))

    def keyevent(self, code: int) -> None:
        self.calls.append(("key", code))

    def render(self) -> Image.Image:
        return Image.new("RGB", self.screen_size, (10, 20, 30))

    def dump_xml(self) -> str:
        return XML

    def packages(self) -> list[str]:
        return list(PACKAGES)

    def launch(self, package: str) -> bool:
        if package not in PACKAGES:
            return False
        self.focus = f"{package}/{package}.Main"
        self.calls.append(("launch", package))
        return True

    def start_activity(self, package: str, activity: str | None) -> bool:
        if package not in PACKAGES or activity != f"{package}.Main":
            return False
        self.focus = f"{package}/{activity}"
        self.calls.append(("start", package, activity))
        return True

    def force_stop(self, package: str) -> None:
        self.calls.append(("stop", package))

    def focused_window(self) -> str:
        return self.focus


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost()


@pytest.fixture
def sh(host: RecordingHost):
    shell = PhoneShell(host)

    def run(cmd: str) -> tuple[str, int]:
        out, status = shell.run(cmd)
        return out.decode(), status
    return run


# -- parsing and builtins ------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd, expected", [
    ("echo hi 'a  b' \"c d\"", "hi a  b c d\n"),
    ("echo 'it'\\''s'", "it's\n"),
    ("echo \"a\\\"b\" a\\ b", 'a"b a b\n'),
    ("false; echo $?", "1\n"),
    ("true && echo yes || echo no", "yes\n"),
    ("false && echo yes || echo no", "no\n"),
    ("! false && echo negated", "negated\n"),
    ("X=5; echo \"$X ${X}\"", "5 5\n"),
    ("echo a # comment", "a\n"),
    ("echo -n a; echo b", "ab\n"),
    ("echo 'a\\nb'", "a\nb\n"),
    ("echo '$(not run)' '`x`'", "$(not run) `x`\n"),
    ("echo one two | grep -o tw", "tw\n"),
])
def test_echo_quoting_and_control_flow(sh, cmd: str, expected: str) -> None:
    assert sh(cmd) == (expected, 0)


@pytest.mark.parametrize("cmd", ["echo $(reboot)", "echo \"$(id)\"", "echo `id`", "echo \"a `id` b\"",
                                 "echo $((1+2))"])
def test_command_substitution_is_refused_before_anything_runs(sh, host, cmd: str) -> None:
    out, status = sh(f"input tap 5 5; {cmd}")
    assert status != 0 and "command substitution" in out
    assert host.calls == []  # the whole line was refused, not just the substitution


@pytest.mark.parametrize("cmd", ["echo 'abc", 'echo "abc', "echo \"a'b"])
def test_unterminated_quotes(sh, cmd: str) -> None:
    out, status = sh(cmd)
    assert status in (1, 2) and "unterminated quoted string" in out


@pytest.mark.parametrize("cmd", ["| grep a", "echo a |", "echo a && ", "; echo", "echo >", "(echo a)",
                                 "if true; then echo; fi", "cat <<EOF"])
def test_syntax_errors(sh, cmd: str) -> None:
    out, status = sh(cmd)
    assert status != 0 and "syntax error" in out


def test_unknown_command_and_exit(sh) -> None:
    assert sh("frobnicate now") == ("/system/bin/sh: frobnicate: not found\n", 127)
    assert sh("echo a; exit 3; echo b") == ("a\n", 3)
    assert sh("exit 1 | echo piped") == ("piped\n", 0)


def test_redirections(sh, host) -> None:
    assert sh("echo hi > /sdcard/a.txt") == ("", 0)
    assert host.state.files["/sdcard/a.txt"].data == b"hi\n"
    assert sh("echo more >> /storage/emulated/0/a.txt; cat /sdcard/a.txt") == ("hi\nmore\n", 0)
    assert sh("ls /nope 2>/dev/null") == ("", 1)
    assert sh("ls /nope >/dev/null 2>&1; echo $?") == ("1\n", 0)
    assert sh("ls /nope 2>&1 | grep -c 'No such'") == ("1\n", 0)
    assert sh("grep m < /sdcard/a.txt") == ("more\n", 0)
    out, status = sh("echo x > /system/x")
    assert status != 0 and "can't create /system/x: Read-only file system" in out
    out, status = sh("echo x > /sdcard/missing/x")
    assert status != 0 and "No such file or directory" in out


def test_date_and_sleep_use_the_simulated_clock(sh, host) -> None:
    assert sh("date") == ("Mon Mar  2 09:00:00 UTC 2026\n", 0)
    assert sh("date +%s") == (f"{host.state.now_ms // 1000}\n", 0)
    assert sh("sleep 90; date +%Y-%m-%d' '%H:%M:%S") == ("2026-03-02 09:01:30\n", 0)
    assert sh("sleep 0.5")[1] == 0 and host.state.now_ms % 1000 == 500
    assert sh("sleep soon")[1] != 0


def test_grep_head_tail_wc(sh) -> None:
    sh("echo 'Alpha\nbeta\ngamma\nBETA' > /sdcard/t")
    assert sh("grep -i beta /sdcard/t") == ("beta\nBETA\n", 0)
    assert sh("grep -v -i beta /sdcard/t") == ("Alpha\ngamma\n", 0)
    assert sh("grep -c a /sdcard/t") == ("3\n", 0)
    assert sh("grep -E '^(Al|ga)' /sdcard/t") == ("Alpha\ngamma\n", 0)
    assert sh("grep '^\\(Al\\|ga\\)' /sdcard/t") == ("Alpha\ngamma\n", 0)
    assert sh("grep -F 'a.' /sdcard/t") == ("", 1)
    assert sh("grep -q zeta /sdcard/t") == ("", 1)
    assert sh("grep '[' /sdcard/t")[1] == 2
    assert sh("cat /sdcard/t | head -n 2") == ("Alpha\nbeta\n", 0)
    assert sh("tail -n 1 /sdcard/t") == ("BETA\n", 0)
    assert sh("cat /sdcard/t | wc -l") == ("4\n", 0)


def test_test_and_brackets(sh) -> None:
    assert sh("test -d /sdcard && echo d") == ("d\n", 0)
    assert sh("[ -f /sdcard ] || echo notfile") == ("notfile\n", 0)
    assert sh("[ -e /sdcard/nothing ]") == ("", 1)
    assert sh("[ 3 -gt 2 ] && [ a = a ] && echo ok") == ("ok\n", 0)
    assert sh("[ -d /sdcard")[1] == 2


# -- files ---------------------------------------------------------------------------------------------

def test_ls_and_file_commands(sh, host) -> None:
    assert sh("ls /sdcard") == ("DCIM\nDocuments\nDownload\nMovies\nMusic\nPictures\n", 0)
    assert sh("ls /nope") == ("ls: /nope: No such file or directory\n", 1)
    assert sh("mkdir /sdcard/Notes && touch /sdcard/Notes/b.txt /sdcard/Notes/a.txt && ls /sdcard/Notes") \
        == ("a.txt\nb.txt\n", 0)
    assert sh("mkdir /sdcard/x/y")[1] == 1
    assert sh("mkdir -p /sdcard/x/y && test -d /storage/emulated/0/x/y") == ("", 0)
    assert sh("cp /sdcard/Notes/a.txt /sdcard/x/ && mv /sdcard/Notes/b.txt /sdcard/Notes/c.txt") == ("", 0)
    assert sh("ls /sdcard/x /sdcard/Notes") == ("/sdcard/Notes:\na.txt\nc.txt\n\n/sdcard/x:\na.txt\ny\n", 0)
    assert sh("ls /sdcard/Notes/*.txt") == ("/sdcard/Notes/a.txt\n/sdcard/Notes/c.txt\n", 0)
    assert sh("rm /sdcard/x")[1] == 1
    assert sh("rmdir /sdcard/x")[1] == 1
    assert sh("rm -r /sdcard/x && ls /sdcard/x")[1] == 1
    assert "/sdcard/x/y" not in host.state.files
    assert sh("rm -f /sdcard/none") == ("", 0)
    assert sh("rm -rf /sdcard")[1] != 0 and "/sdcard" in host.state.files
    line = sh("ls -l /sdcard/Notes")[0].splitlines()[1]
    assert line.startswith("-rw-rw---- 1 ") and line.endswith(" a.txt")
    assert sh("cat /sdcard/Download") == ("cat: /sdcard/Download: Is a directory\n", 1)
    assert sh("cd /sdcard/Notes && pwd && ls") == ("/sdcard/Notes\na.txt\nc.txt\n", 0)
    assert sh("pwd") == ("/\n", 0)  # each run is a fresh shell


# -- settings, radios, properties, dumpsys -------------------------------------------------------------

def test_settings_store_values_only(sh, host) -> None:
    assert sh("settings get global wifi_on; settings get system nope") == ("1\nnull\n", 0)
    assert sh("settings put global wifi_on 0") == ("", 0)
    assert host.state.wifi_radio is True  # as on Android, the value alone switches nothing
    assert sh("settings put system screen_brightness 200; settings get system screen_brightness") \
        == ("200\n", 0)
    assert sh("settings delete system screen_brightness") == ("Deleted 1 rows\n", 0)
    assert "font_scale=1.0" in sh("settings list system")[0]
    assert sh("settings get bogus key")[1] != 0
    version = host.state.version
    sh("settings put global airplane_mode_on 1")
    assert host.state.version > version and host.state.bluetooth_radio is False and host.state.wifi_radio


def test_svc_and_airplane_mode_switch_radios(sh, host) -> None:
    assert sh("svc wifi disable") == ("", 0)
    assert host.state.wifi_radio is False and host.state.settings["global"]["wifi_on"] == "0"
    assert sh("svc bluetooth enable; settings get global bluetooth_on") == ("1\n", 0)
    assert host.state.bluetooth_radio is True
    assert sh("svc data disable; settings get global mobile_data") == ("0\n", 0)
    assert sh("cmd connectivity airplane-mode enable; cmd connectivity airplane-mode") == ("enabled\n", 0)
    assert host.state.airplane_mode and not host.state.bluetooth_radio
    assert sh("svc wifi sometimes")[1] != 0


def test_getprop_wm_dumpsys(sh, host) -> None:
    assert sh("getprop sys.boot_completed") == ("1\n", 0)
    assert sh("getprop ro.build.version.sdk; getprop ro.build.version.release") == ("34\n14\n", 0)
    assert sh("getprop no.such.prop") == ("\n", 0)
    assert "[ro.product.model]: [PhoneSim]" in sh("getprop")[0]
    assert sh("wm size") == ("Physical size: 1080x2400\n", 0)
    focus = sh("dumpsys window windows | grep mCurrentFocus")[0]
    assert focus.startswith("  mCurrentFocus=Window{") and focus.endswith(f" u0 {host.focus}}}\n")
    assert "  level: 87\n" in sh("dumpsys battery")[0]
    host.focus = "com.android.settings/com.android.settings.Settings"
    assert "mResumedActivity: ActivityRecord{" in sh("dumpsys activity activities")[0]
    assert " com.android.settings/.Settings t1}" in sh("dumpsys activity activities")[0]
    assert sh("dumpsys nothing")[1] != 0


# -- input, screen, activity manager -------------------------------------------------------------------

def test_input_commands_reach_the_host(sh, host) -> None:
    assert sh("input tap 540 1200") == ("", 0)
    assert sh("input touchscreen swipe 1 2 3 4 500; input swipe 1 2 3 4") == ("", 0)
    assert sh("input text 'Ana%sDiaz'; input text hello world") == ("", 0)
    assert sh("input keyevent KEYCODE_BACK 3 ENTER") == ("", 0)
    assert host.calls == [("tap", 540.0, 1200.0), ("swipe", 1.0, 2.0, 3.0, 4.0, 500),
                          ("swipe", 1.0, 2.0, 3.0, 4.0, 300), ("text", "Ana Diaz"), ("text", "hello"),
                          ("key", 4), ("key", 3), ("key", 66)]


@pytest.mark.parametrize("cmd", ["input tap 1", "input tap x 2", "input tap 1 nan", "input swipe 1 2 3",
                                 "input swipe 1 2 3 4 fast", "input text", "input keyevent",
                                 "input keyevent BACK KEYCODE_NOPE", "input keyevent 9999",
                                 "input text 'caf\u00e9'", "input fling 1 2", "input"])
def test_bad_input_is_a_usage_error_and_does_nothing(sh, host, cmd: str) -> None:
    out, status = sh(cmd)
    assert status != 0 and out
    assert host.calls == []


def test_screencap_png_and_raw(host) -> None:
    shell = PhoneShell(host)
    png, status = shell.run("screencap -p")
    assert status == 0
    image = Image.open(io.BytesIO(png))
    assert image.size == (1080, 2400) and image.getpixel((5, 5))[:3] == (10, 20, 30)
    raw, status = shell.run("screencap")
    assert struct.unpack("<4I", raw[:16]) == (1080, 2400, 1, 0)
    assert len(raw) == 16 + 1080 * 2400 * 4 and raw[16:20] == bytes([10, 20, 30, 255])
    assert shell.run("screencap -p /sdcard/s.png") == (b"", 0)
    assert host.state.files["/sdcard/s.png"].data.startswith(b"\x89PNG")
    assert shell.run("screencap -p /system/s.png")[1] != 0


def test_uiautomator_dump_then_cat(sh) -> None:
    assert sh("uiautomator dump") == ("UI hierchary dumped to: /sdcard/window_dump.xml\n", 0)
    assert sh("cat /sdcard/window_dump.xml") == (XML, 0)
    assert sh("uiautomator dump /sdcard/d.xml >/dev/null && cat /storage/emulated/0/d.xml") == (XML, 0)
    assert sh("uiautomator")[1] != 0


def test_am_monkey_pm(sh, host) -> None:
    assert sh("am start -n com.android.settings/.Main") == (
        "Starting: Intent { cmp=com.android.settings/.Main }\n", 0)
    assert host.calls[-1] == ("start", "com.android.settings", "com.android.settings.Main")
    out, status = sh("am start -n com.android.settings/.Nope")
    assert status != 0 and "does not exist" in out
    assert sh("am force-stop com.android.settings") == ("", 0)
    assert host.calls[-1] == ("stop", "com.android.settings")
    out, status = sh("monkey -p com.android.contacts -c android.intent.category.LAUNCHER 1")
    assert status == 0 and "Events injected: 1" in out
    assert host.calls[-1] == ("launch", "com.android.contacts")
    assert sh("monkey -p com.nope -c android.intent.category.LAUNCHER 1") == (
        "** No activities found to run, monkey aborted.\n", 251)
    assert sh("pm list packages") == ("".join(f"package:{p}\n" for p in sorted(PACKAGES)), 0)
    assert sh("pm list packages contacts") == ("package:com.android.contacts\n", 0)
    out, status = sh("am start -a android.intent.action.VIEW -d sms:+34600111222")
    assert status == 0 and host.calls[-1] == ("launch", "com.android.messaging")
    assert sh("am start -a android.intent.action.VIEW -d geo:0,0")[1] != 0


# -- content providers ---------------------------------------------------------------------------------

CONTACTS = "content://com.android.contacts"


def test_contacts_insert_query_update_delete(sh, host) -> None:
    assert sh(f"content insert --uri {CONTACTS}/raw_contacts --bind account_type:n: --bind account_name:n:") \
        == ("", 0)
    rid = host.state.contacts[0].id
    rows = (("name", "Ana Diaz"), ("phone_v2", "+34 600 111 222"), ("email_v2", "ana@example.com"))
    for mime, value in rows:
        cmd = (f"content insert --uri {CONTACTS}/data --bind raw_contact_id:i:{rid} "
               f"--bind mimetype:s:vnd.android.cursor.item/{mime} --bind 'data1:s:{value}'")
        assert sh(cmd) == ("", 0)
    c = host.state.contacts[0]
    assert (c.name, c.phones, c.emails) == ("Ana Diaz", ["+34 600 111 222"], ["ana@example.com"])
    assert sh(f"content query --uri {CONTACTS}/contacts") == (
        f"Row: 0 _id={rid}, display_name=Ana Diaz, starred=0, has_phone_number=1\n", 0)
    where = "mimetype='vnd.android.cursor.item/phone_v2' AND display_name LIKE 'ana%'"
    assert sh(f'content query --uri {CONTACTS}/data --projection data1:data2 --where "{where}"') == (
        "Row: 0 data1=+34 600 111 222, data2=2\n", 0)
    assert sh(f"content update --uri {CONTACTS}/contacts --bind starred:i:1 --where '_id={rid}'") == ("", 0)
    assert c.starred
    assert sh(f"content query --uri {CONTACTS}/raw_contacts/{rid} --projection display_name:starred") == (
        "Row: 0 display_name=Ana Diaz, starred=1\n", 0)
    assert sh(f"content delete --uri {CONTACTS}/data --where \"mimetype LIKE '%email%'\"") == ("", 0)
    assert c.emails == [] and c.phones
    version = host.state.version
    assert sh(f"content delete --uri {CONTACTS}/raw_contacts --where \"display_name='Ana Diaz'\"") == ("", 0)
    assert host.state.contacts == [] and host.state.version > version
    assert sh(f"content query --uri {CONTACTS}/raw_contacts") == ("No result found.\n", 0)


def test_sms_calendar_and_simulator_providers(sh, host) -> None:
    host.state.add_sms("+34600111222", "hello there", type=1, read=False)
    host.state.add_sms("+34600111222", "reply", type=2)
    out, status = sh("content query --uri content://sms/inbox --projection address:body:read")
    assert (out, status) == ("Row: 0 address=+34600111222, body=hello there, read=0\n", 0)
    assert sh("content query --uri content://sms --projection body --sort 'date DESC, _id DESC'")[0] == (
        "Row: 0 body=reply\nRow: 1 body=hello there\n")
    assert sh("content insert --uri content://sms/sent --bind address:s:555 --bind 'body:s:on my way'") \
        == ("", 0)
    assert host.state.sms[-1].type == 2 and host.state.sms[-1].body == "on my way"
    events = "content://com.android.calendar/events"
    out, status = sh(f"content insert --uri {events} --bind title:s:Dentist --bind dtstart:l:1772452800000")
    assert status != 0 and "calendar_id" in out
    assert sh(f"content insert --uri {events} --bind calendar_id:i:1 --bind title:s:Dentist --bind "
              "dtstart:l:1772452800000 --bind dtend:l:1772456400000 --bind eventTimezone:s:UTC") == ("", 0)
    assert sh(f"content query --uri {events} --projection title:calendar_id:deleted") == (
        "Row: 0 title=Dentist, calendar_id=1, deleted=0\n", 0)
    alarms = "content://com.phonesim.deskclock/alarms"
    assert sh(f"content insert --uri {alarms} --bind hour:i:7 --bind minutes:i:30 --bind label:s:Gym") \
        == ("", 0)
    assert sh(f"content update --uri {alarms} --bind enabled:b:false --where 'hour = 7'") == ("", 0)
    assert host.state.alarms[0].enabled is False
    assert sh(f"content query --uri {alarms} --projection hour:minutes:enabled") == (
        "Row: 0 hour=7, minutes=30, enabled=0\n", 0)
    notes = "content://com.phonesim.notes/notes"
    assert sh(f"content insert --uri {notes} --bind title:s:Shopping --bind 'body:s:milk, eggs'") == ("", 0)
    assert sh(f"content query --uri {notes} --where \"title IS NOT NULL AND body LIKE '%EGGS'\" "
              "--projection title") == ("Row: 0 title=Shopping\n", 0)


@pytest.mark.parametrize("where, expected", [
    ("_id = 2", [2]), ("_id <> 2", [1, 3]), ("_id >= 2 AND NOT _id = 3", [2]), ("_id < 2 OR _id > 2", [1, 3]),
    ("title LIKE 'b_b'", [2]), ("title = 'it''s'", [3]), ("(_id = 1 OR _id = 3) AND title LIKE '%'", [1, 3]),
    ("body IS NULL", []), ("_id IN (1, 3)", [1, 3]), ("_id NOT IN (1)", [2, 3]),
    ("title > 'b' AND title < 'c'", [2]), ("_id = '2'", [2]),
])
def test_where_subset(sh, host, where: str, expected: list[int]) -> None:
    for title in ("a", "bob", "it's"):
        host.state.add_note(title, "")
    notes = "content://com.phonesim.notes/notes"
    out, status = sh(f'content query --uri {notes} --projection _id --where "{where}"')
    assert status == 0
    assert [int(line.split("=")[1]) for line in out.splitlines() if line.startswith("Row")] == expected


@pytest.mark.parametrize("cmd", [
    "content query --uri content://com.example.nothing/items",
    "content query --uri content://sms --where \"body = \"",
    "content query --uri content://sms --where \"nosuchcol = 1\"",
    "content query --uri content://sms --where \"(body = 'a'\"",
    "content query --uri content://sms --projection nosuch",
    "content insert --uri content://sms --bind body:x:1",
    "content insert --uri content://sms --bind body",
    "content insert --uri content://sms --bind _id:i:99",
    "content insert --uri content://com.android.contacts/contacts --bind starred:i:1",
    "content query",
    "content insert --uri content://sms",
])
def test_content_errors(sh, host, cmd: str) -> None:
    out, status = sh(cmd)
    assert status != 0 and out
    assert host.state.sms == []


# -- robustness ----------------------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from(["echo", "ls", "cat", "input", "tap", "text", "keyevent", "content", "query",
                              "--uri", "content://sms", "--where", "'", '"', "$", "$(", "`", "|", "||", "&&",
                              ";", ">", ">>", "2>&1", "<", "(", ")", "\\", "#", "*", "/sdcard/", "[", "]",
                              "grep", "-i", "settings", "put", "global", "x", "1", "-1", "%s", "\n", " ",
                              "am", "start", "-n", "a/.B", "rm", "-rf", "mkdir", "-p", "date", "+%", "sleep",
                              "monkey", "dumpsys", "test", "!", "=", "uiautomator", "dump", "screencap"])


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.text(st.characters(min_codepoint=0xD700, max_codepoint=0xE000)),
                 st.lists(_FRAGMENTS, max_size=14).map(" ".join),
                 st.lists(_FRAGMENTS, max_size=14).map("".join)))
def test_any_input_gives_output_and_status(text: str) -> None:
    out, status = PhoneShell(RecordingHost()).run(text)
    assert isinstance(out, bytes) and isinstance(status, int) and 0 <= status <= 255


def test_huge_sleep_is_refused_and_the_clock_stays_usable(sh) -> None:
    assert sh("sleep 99999999999999")[1] != 0
    assert sh("date +%Y") == ("2026\n", 0)


# -- end to end through SimDevice ----------------------------------------------------------------------

def _sim_device():
    device_module = pytest.importorskip("emulators.phonesim.device")
    return device_module.SimDevice(seed=0)


def test_sim_device_end_to_end() -> None:
    device = _sim_device()
    assert device.check_shell("wm size") == "Physical size: 1080x2400\n"
    png = device.exec_out("screencap -p")
    image = Image.open(io.BytesIO(png))
    assert image.size == device.screen_size == (1080, 2400)
    xml = device.check_shell("uiautomator dump >/dev/null && cat /sdcard/window_dump.xml")
    assert xml.startswith("<?xml") and "<node " in xml and 'bounds="[' in xml
    element = next(e for e in device.elements() if e.clickable)
    before = device.exec_out("screencap -p")
    assert device.shell(f"input tap {element.center[0]} {element.center[1]}").ok
    assert device.exec_out("screencap -p") != before
    assert "monkey aborted" in device.shell("monkey -p com.nope -c android.intent.category.LAUNCHER 1").output


def test_sim_device_launch_and_focus() -> None:
    device = _sim_device()
    result = device.shell("monkey -p com.android.settings -c android.intent.category.LAUNCHER 1")
    assert result.ok and "Events injected: 1" in result.output
    focus = device.check_shell("dumpsys window | grep mCurrentFocus")
    assert " u0 com.android.settings/" in focus
    result = device.shell("input keyevent HOME && dumpsys window | grep -c 'u0 com.android.settings/'")
    assert (result.output, result.exit_code) == ("0\n", 1)  # grep -c prints 0 and exits 1 on no match
    assert "com.android.launcher3/" in device.check_shell("dumpsys window | grep mCurrentFocus")
