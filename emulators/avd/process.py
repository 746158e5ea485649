"""Process groups: an emulator is a launcher plus its qemu child, so it is stopped as a whole group.

``group_alive`` looks in /proc where it can, because a member that has exited but is not yet reaped (a
zombie, common when PID 1 does not reap orphans) still answers ``killpg(pgid, 0)``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

_PROC = Path("/proc")


def _live_members(pgid: int) -> list[int] | None:
    """Pids of the group's members that are not zombies, or None where /proc cannot tell."""
    if not _PROC.is_dir():
        return None
    members: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it exited while we looked
        # the command name is in parentheses and may contain spaces; fields after it are fixed
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    """True while any process of group ``pgid`` is running (zombies do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    members = _live_members(pgid)
    return True if members is None else bool(members)


def _wait_gone(pgid: int, process: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        process.poll()  # reap the leader so it does not linger as a zombie
        if not group_alive(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def stop_group(process: subprocess.Popen[bytes], wait_s: float, grace_s: float) -> bool:
    """End every process of ``process``'s group: wait ``wait_s`` for it to exit by itself (after a console
    ``kill``), then SIGTERM and ``grace_s`` more, then SIGKILL. True when the group is gone.

    The leader must have been started with ``start_new_session`` (its pid is the group id).
    """
    pgid = process.pid
    if _wait_gone(pgid, process, wait_s):
        return True
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            process.poll()
            return True
        if _wait_gone(pgid, process, wait):
            return True
    return False
