"""The two soak scripts of issue 22 run end to end on a tiny budget and print sane figures.

Each runs as a user runs it (``python scripts/soak_*.py``, a subprocess); the figures are read back from
``--json`` and the printed report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"shell", "screencap", "uiautomator", "input", "push", "pull"}


def _script(name: str, *args: str, timeout: float = 150) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=timeout)


@pytest.mark.skipif(shutil.which("adb") is None, reason="needs the adb tool (apt-get install adb)")
def test_soak_adb_serves_both_clients_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "adb.json"
    done = _script("soak_adb.py", "--clients", "2", "--count", "1", "--seconds", "3", "--think-ms", "20",
                   "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert figures["errors"] == 0 and figures["first_errors"] == []
    assert figures["setup"]["clients_by_kind"] == {"adb-shell": 1, "adb tool": 1}
    assert figures["requests"] >= 20 and figures["requests_per_s"] > 0
    assert KINDS <= set(figures["latency"]), figures["latency"]
    for kind, st in figures["latency"].items():
        assert 0 < st["p50_ms"] <= st["p99_ms"] <= st["max_ms"] < 30_000, (kind, st)
    assert any("[adb tool]" in k for k in figures["latency_by_client"])
    rss = figures["server_rss_mib"]
    assert 20 < rss["start"] <= rss["max"] and rss["end"] > 20
    for line in ("requests/s", "errors: 0", "server RSS: launch", "targets: errors == 0: 0 ok"):
        assert line in done.stdout, done.stdout


def test_soak_adb_refuses_bad_flags_in_one_line() -> None:
    done = _script("soak_adb.py", "--clients", "0", timeout=60)
    assert done.returncode == 2 and "--clients" in done.stderr and "Traceback" not in done.stderr


def test_soak_train_completes_with_faults_counted(tmp_path: Path) -> None:
    out = tmp_path / "train.json"
    done = _script("soak_train.py", "--steps", "3", "--refuse-rate", "0.3", "--delay-rate", "0.3",
                   "--delay-s", "0.01", "--json", str(out))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    r = json.loads(out.read_text())
    assert r["completed"] and r["steps"] == 3 and r["episodes"] == 6  # one group of 2 a step
    assert 0 <= r["lost_episodes"] <= r["episodes"] and r["skipped_steps"] == 0
    assert r["faults_injected"].get("refuse", 0) > 0 and r["faults_injected"].get("delay", 0) > 0
    rss = r["rss_mib"]
    assert rss["after_step"] == 3 and 100 < rss["base"] <= rss["max"] and rss["end"] == rss["base"]
    assert 0 < r["step_s_mean"] <= r["step_s_max"] < 60
    for line in ("lost episodes:", "skipped steps: 0", "RSS: after step 3", "targets: run completed: ok"):
        assert line in done.stdout, done.stdout
