"""`gui-grpo tasks verify --suite standard`: every template's oracle succeeds and doing nothing fails."""

from __future__ import annotations

import json
import subprocess
import sys


def test_verify_standard_suite_in_ci():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gui_grpo",
            "tasks",
            "verify",
            "--suite",
            "standard",
            "--seeds",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout)
    assert len(rows) >= 60
    for row in rows:
        assert row["ok"] and not row["errors"], row
        assert row["oracle_success"] == 1.0, row
        assert row["do_nothing_success"] == 0.0, row
        assert row["guess_success"] is None or row["guess_success"] <= 0.2, row
