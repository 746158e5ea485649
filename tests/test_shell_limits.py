"""Bounded shell work in PhoneSim: linear-time regexes, a time budget per command (and the caller's
timeout for the whole line), and sims served from one process that do not wait on each other.

Timings here are generous bounds, not benchmarks: each slow case is seconds where the bound is well under.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from emulators.adb.client import AdbDevice
from emulators.adb.server import serve_devices
from emulators.phonesim.device import SimDevice
from emulators.phonesim.shell.interpreter import PhoneShell
from emulators.phonesim.shell.sql import like
from emulators.phonesim.state import PhoneState

EVIL = "a" * 24  # (a*)*b backtracks 2^24 ways on it: ~2.5 s in Python's re, doubling per character


class _Host:
    state = PhoneState()
    screen_size = (1080, 2400)


@pytest.fixture
def sh() -> Iterator:
    shell = PhoneShell(_Host())  # type: ignore[arg-type]

    def run(cmd: str) -> tuple[str, int]:
        out, status = shell.run(cmd)
        return out.decode(), status

    yield run


def _timed(func, *args):
    start = time.monotonic()
    result = func(*args)
    return result, time.monotonic() - start


@pytest.mark.parametrize("cmd", [
    f"echo {EVIL} | grep -E '(a*)*b'",
    f"echo {EVIL} | grep '\\(a*\\)*b'",
    f"echo {EVIL} | grep -e 'x' -e '(a|a)*b' -E",
    f"echo {EVIL} | grep -E -w '(a*)*b'",
    f"echo {EVIL} | grep -E -x -i '(a*)*B'",
])
def test_backtracking_patterns_run_in_linear_time(sh, cmd: str) -> None:
    (out, status), took = _timed(sh, cmd)
    assert (out, status) == ("", 1)
    assert took < 0.5


def test_linear_engine_keeps_grep_semantics(sh) -> None:
    assert sh("echo 'foo foo.bar xfoo' | grep -o -w foo") == ("foo\nfoo\n", 0)
    # -w as GNU grep (and the old engine): ".b" is preceded by the word character "a", so only "b" counts
    assert sh("echo 'a.b' | grep -o -w -E '[.b]+'") == ("b\n", 0)
    assert sh("echo 'foo.bar' | grep -o -w -E 'foo.|bar'") == ("bar\n", 0)  # "foo." is followed by "b"
    assert sh("echo '..' | grep -o -w '[.]'") == (".\n.\n", 0)  # the second "." follows the first match
    assert sh("echo 'a b' | grep -o -w a") == ("a\n", 0)
    assert sh("echo '12 ab' | grep -o '[[:digit:]]*'") == ("12\n", 0)
    assert sh("echo 'ABC' | grep -x -i abc") == ("ABC\n", 0)
    assert sh("echo 'héllo wörld' | grep -o 'ö.'") == ("ör\n", 0)
    assert sh("echo 'a+b' | grep 'a+b'") == ("a+b\n", 0)  # BRE: + is literal
    assert sh("echo 'aab' | grep 'a\\{2\\}b'") == ("aab\n", 0)


def test_backreference_is_a_bad_regex_with_status_2(sh) -> None:
    out, status = sh("echo abab | grep -E '(ab)\\1'")
    assert status == 2
    assert out.startswith("grep: bad regex '(ab)\\1': ") and "backreference" in out
    assert sh("echo abab | grep '\\(ab\\)\\1'")[1] == 2


def test_sql_like_and_glob_are_linear() -> None:
    value = "a" * 3000
    _, took = _timed(like, value, "%a%a%a%a%a%a%a%a%b")
    assert like(value, "%a%a%a%a%a%a%a%a%b") is False and took < 0.5
    assert like("Hello_World", "hello\\_%") is False and like("Hello_World", "HELLO_W%") is True
    assert like("line\nbreak", "line%k") is True


def test_glob_with_many_stars_is_linear(sh) -> None:
    name = "a" * 200
    sh(f"touch /sdcard/{name}")
    (out, _), took = _timed(sh, "ls /sdcard/" + "*a" * 12 + "*b")
    assert took < 0.5 and "No such file" in out


def _big_file(device: SimDevice, lines: int = 200_000) -> str:
    device.shell_interpreter.fs.write("/sdcard/big.txt", b"some line of text\n" * lines)
    return "grep -c text" + " /sdcard/big.txt" * 60  # ~12 M lines: several seconds unbounded


def test_a_command_over_its_budget_stops_with_status_124() -> None:
    device = SimDevice(shell_budget_s=0.5)
    cmd = _big_file(device)
    result, took = _timed(device.shell, cmd)
    assert result.exit_code == 124 and took < 2.0
    assert "grep: timed out after 0.5 s" in result.output
    after, _ = _timed(device.shell, f"{cmd}; echo status $?")
    assert after.output.endswith("status 124\n")  # later commands still run: the exit status reaches adb


def test_the_timeout_passed_to_shell_bounds_the_command() -> None:
    device = SimDevice()
    cmd = _big_file(device)
    result, took = _timed(device.shell, cmd, 0.3)
    assert result.exit_code == 124 and took < 2.0
    assert device.shell("echo fine", 0.3).output == "fine\n"
    assert device.fork(1)[0].shell(cmd, 0.3).exit_code == 124  # the budget survives a fork


def test_past_the_timeout_the_rest_of_the_line_does_not_run() -> None:
    device = SimDevice()
    cmd = _big_file(device)
    result = device.shell(f"echo before; {cmd}; echo after", 0.3)
    assert result.exit_code == 124
    assert result.output == "before\ngrep: timed out after 0.3 s\n"


def test_nested_sh_shares_the_budget() -> None:
    device = SimDevice(shell_budget_s=0.5)
    cmd = _big_file(device)
    result, took = _timed(device.shell, f"sh -c '{cmd}; {cmd}'; sh -c '{cmd}'")
    assert result.exit_code == 124 and took < 2.5
    inner = device.shell(f"sh -c 'echo inside; {cmd}; echo not reached'; echo next $?")
    assert inner.output == "inside\ngrep: timed out after 0.5 s\nnext 124\n"  # sh -c stops as a whole


def _latency_while(slow_device: AdbDevice, slow_cmd: str, fast_device: AdbDevice) -> tuple[float, float]:
    """(fast echo's latency while ``slow_cmd`` runs, how long ``slow_cmd`` took).

    The latency counts from when the echo was due, not from when this thread woke to send it: client and
    server share this process, so a command holding the GIL would delay the wake-up too.
    """
    took: list[float] = []
    slow = threading.Thread(target=lambda: took.append(_timed(slow_device.shell, slow_cmd)[1]))
    due = time.monotonic() + 0.2
    slow.start()
    time.sleep(0.2)
    result = fast_device.shell("echo quick")
    fast = time.monotonic() - due
    slow.join(30)
    assert result.output == "quick\n"
    return fast, took[0]


@contextlib.contextmanager
def _two_served_sims(first: SimDevice) -> Iterator[tuple[AdbDevice, AdbDevice]]:
    """ADB clients of ``first`` and of a fresh sim, both served from this process, connected and warm."""
    with serve_devices([first, SimDevice()], port=0) as served:
        first_address, second_address = served.addresses
        with AdbDevice(first_address, timeout_s=30) as a, AdbDevice(second_address, timeout_s=30) as b:
            a.shell("echo warm")
            b.shell("echo warm")
            yield a, b


def test_a_backtracking_grep_on_one_sim_does_not_stall_another_in_the_same_process() -> None:
    with _two_served_sims(SimDevice()) as (a, b):
        fast, _ = _latency_while(a, f"echo {EVIL}{EVIL[:1]} | grep -E '(a*)*b'", b)
    assert fast < 1.0


def test_a_long_command_on_one_sim_does_not_block_another_and_ends_at_its_budget() -> None:
    slow_sim = SimDevice(shell_budget_s=3.0)
    cmd = _big_file(slow_sim)
    with _two_served_sims(slow_sim) as (a, b):
        fast, slow = _latency_while(a, cmd, b)
        assert a.shell(cmd).exit_code == 124
    assert fast < 1.0 and 2.5 < slow < 6.0
