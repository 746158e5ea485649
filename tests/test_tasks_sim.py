"""Every template on PhoneSim: doing nothing scores 0, the oracle scores 1, side effects stay empty.

One small PhoneSim is built per session; each episode runs on a fork of it, so episodes are independent.
"""

import json
import os
import random
import subprocess
import sys

import pytest

from emulators.actions import Answer, Terminate
from emulators.phonesim import SimDevice
from gui_grpo.cli.main import UserError
from tasks.runner import play, run_do_nothing, run_guess, run_oracle, run_random
from tasks.suites import load_templates
from tasks.verify import format_table, verify_template

TEMPLATES = load_templates()
SEEDS = (1, 5)


@pytest.fixture(scope="session")
def base_device():
    return SimDevice(seed=0, resolution="small", randomize=True)


@pytest.fixture
def fresh(base_device):
    return lambda: base_device.fork(1)[0]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", TEMPLATES, ids=lambda c: c.name)
def test_do_nothing_fails_and_oracle_succeeds(cls, seed, fresh):
    task = cls.sample(seed)
    nothing = run_do_nothing(task, fresh())
    assert nothing.score == 0.0, f"{task!r} is solved at the start"
    outcome = run_oracle(task, fresh())
    assert outcome.score == 1.0, f"oracle failed on {task!r} after {outcome.episode.actions}"
    assert outcome.side_effects == []
    last = outcome.episode.actions[-1]
    assert isinstance(last, Answer if cls.information else Terminate)
    assert outcome.episode.steps <= cls.max_steps


@pytest.mark.parametrize("cls", [t for t in TEMPLATES if t.information], ids=lambda c: c.name)
def test_guesses_fail(cls, fresh):
    task = cls.sample(2)
    assert all(run_guess(task, fresh(), g).score == 0.0 for g in cls.answer_guesses)


def test_setup_resets_what_a_previous_episode_changed(fresh):
    """Setup on a used device (not a fresh fork) still gives a start that is not the goal."""
    device = fresh()
    task = load_templates_by_name()["contacts.add_with_phone"].sample(3)
    assert run_oracle(task, device).score == 1.0
    initial = task.setup(device)
    assert task.check(device, play(task, device, [Terminate("success")], initial)) == 0.0


def load_templates_by_name():
    return {t.name: t for t in TEMPLATES}


def test_progress_rises_with_partial_work(fresh):
    device = fresh()
    task = load_templates_by_name()["settings.wifi_and_bluetooth_off"].sample(0)
    task.setup(device)
    assert task.progress(device) == 0.0
    device.check_shell("svc wifi disable")
    assert task.progress(device) == 0.5


def test_random_agent_runs_and_verify_reports(fresh):
    cls = load_templates_by_name()["settings.wifi_off"]
    outcome = run_random(cls.sample(0), fresh(), random.Random(0))
    assert 0.0 <= outcome.score <= 1.0 and outcome.episode.steps == cls.max_steps
    report = verify_template(cls, fresh, [0, 1])
    assert report.ok and report.oracle_success == 1.0 and report.do_nothing_success == 0.0
    assert "settings.wifi_off" in format_table([report])


def run_cli(*argv: str) -> int:
    import argparse

    from gui_grpo.cli import tasks as tasks_command

    parser = argparse.ArgumentParser(prog="gui-grpo")
    tasks_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tasks", *argv])
    return args.func(args)


def test_cli_list_verify_and_demos(tmp_path, capsys):
    assert run_cli("list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in listed} == {t.name for t in TEMPLATES}
    assert {r["portability"] for r in listed} == {"portable", "sim-only"}
    assert run_cli("verify", "--suite", "smoke", "--seeds", "1", "--json") == 0
    assert all(r["ok"] for r in json.loads(capsys.readouterr().out))
    assert run_cli("demos", "--suite", "smoke", "--seeds", "1", "--out", str(tmp_path)) == 0
    steps = [json.loads(line) for line in (tmp_path / "steps.jsonl").read_text().splitlines()]
    episodes = [json.loads(line) for line in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 4 and all(e["score"] == 1.0 for e in episodes)
    assert sum(e["steps"] for e in episodes) == len(steps)
    first = steps[0]
    assert (tmp_path / first["image"]).is_file() and first["elements"]
    assert first["action"] == {"type": "openapp", "app": "Settings"}

    with pytest.raises(UserError, match="known suites"):
        run_cli("list", "--suite", "nope")


def test_cli_list_has_a_header_marks_held_out_templates_and_survives_a_closed_pipe():
    from tasks.suites import HELD_OUT

    table = subprocess.run(
        [sys.executable, "-m", "gui_grpo", "tasks", "list"], capture_output=True, text=True, timeout=120
    ).stdout.splitlines()
    assert table[0].split()[:2] == ["TEMPLATE", "APP"]
    marked = {line.split()[0] for line in table[1:-1] if " heldout " in line}
    assert marked == set(HELD_OUT)
    # `gui-grpo tasks list --json | head -1`: the reader is gone before the output is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.run(
        [sys.executable, "-m", "gui_grpo", "tasks", "list", "--json"],
        stdout=write_end, stderr=subprocess.PIPE, timeout=120,
    )
    os.close(write_end)
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr, proc.stderr.decode()
    assert proc.returncode == 141
