"""Run directories from `gui-grpo train`: a new one per run, never two runs in one, resume from anywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gui_grpo.cli import main as cli

QUICK = ["--steps", "1", "--groups", "1", "--group-size", "2", "--max-new-tokens", "4", "--devices", "sim:2",
         "--set", "rollout.max_steps=2", "--no-progress"]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: str) -> Path:
    shutil.copytree(tiny_model_dir, tmp_path / "tiny")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_each_run_gets_its_own_directory_and_an_existing_run_is_refused(
    work: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["train", "--model", "tiny", *QUICK]) == 0
    assert cli.main(["train", "--model", "tiny", *QUICK]) == 0
    runs = sorted(p.name for p in (work / "runs").iterdir())
    assert len(runs) == 2 and all(name.startswith("train-") for name in runs), runs
    saved = json.loads((work / "runs" / runs[0] / "config.json").read_text())
    assert saved["model"] == str(work / "tiny")  # absolute: the run resumes from any directory

    metrics = (work / "runs" / runs[0] / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert cli.main(["train", "--model", "tiny", "--out", f"runs/{runs[0]}", *QUICK]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"runs/{runs[0]} already holds a run" in err[0]
    assert f"--resume runs/{runs[0]}" in err[0]
    assert (work / "runs" / runs[0] / "metrics.jsonl").read_text() == metrics  # nothing appended

    assert cli.main(["train", "--model", "tiny", "--name", "mine", *QUICK]) == 0
    assert (work / "runs" / "mine" / "final").is_dir()
    assert cli.main(["train", "--model", "tiny", "--name", "mine", *QUICK]) == 2
    assert "runs/mine already holds a run" in capsys.readouterr().err


def test_resume_works_from_another_directory_and_a_finished_run_says_so(
    work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["train", "--model", "tiny", "--name", "r", "--save-every", "1", *QUICK]) == 0
    run = work / "runs" / "r"
    metrics = (run / "metrics.jsonl").read_text()
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{run} is finished: step 1 of 1, nothing to do" in out and f"--resume {run} --steps 2" in out
    assert (run / "metrics.jsonl").read_text() == metrics
    assert cli.main(["train", "--resume", str(run), "--steps", "2", "--no-progress"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]

    shutil.rmtree(work / "tiny")  # the base a run was trained from is gone: no advice to rebuild it
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(run), "--steps", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"the base model {work / 'tiny'} that {run} was trained from" in err[0]
    assert "init-model" not in err[0]
