"""The whole pipeline on web pages: evaluation, online GRPO, reports and the main job's miniwob preset,
on MiniWoB++ pages in real headless Chromium, with the tiny model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gui_grpo.eval.evaluate import EvalConfig, run_evaluation
from gui_grpo.train.config import RolloutConfig, TrainConfig
from gui_grpo.train.trainer import Trainer, TrainError

pytestmark = [
    pytest.mark.skipif(shutil.which("chromium") is None, reason="web devices need Debian's chromium"),
    pytest.mark.usefixtures("one_torch_thread"),
]


def gui_grpo(*argv: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gui_grpo", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_eval_on_web_pages_plays_scores_and_reports(tiny_model_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    cfg = EvalConfig(model=tiny_model_dir, out=str(out), suite="miniwob-easy", episodes=3, devices="web:2",
                     max_steps=3, max_new_tokens=40)
    summary = run_evaluation(cfg)
    assert summary["overall"]["episodes"] == 3 and summary["lost_devices"] == []
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert {r["task"].split(":")[0] for r in records} <= {f"miniwob.{t}" for t in _easy()}
    for r in records:
        assert r["lost"] is None
        assert not r["instruction"].startswith("<")  # the page's utterance, not the before-setup marker
        frames = sorted((out / "episodes" / f"{r['index']:04d}").glob("*.png"))
        assert frames, "each episode keeps its screenshots for the report"
    proc = gui_grpo("report", str(out), "--out", str(tmp_path / "report.html"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "miniwob." in (tmp_path / "report.html").read_text()


def _easy() -> list[str]:
    from tasks.suites import suite_templates

    return [t.name.removeprefix("miniwob.") for t in suite_templates("miniwob-easy")]


def test_tasks_on_the_wrong_kind_of_device_are_refused_in_one_line(
    tiny_model_dir: str,
    tmp_path: Path
) -> None:
    for suite, devices in (("miniwob-easy", "sim:2"), ("smoke", "web:2")):
        proc = gui_grpo("eval", "--model", tiny_model_dir, "--suite", suite, "--devices", devices,
                        "--episodes", "1", "--out", "e", cwd=tmp_path, timeout=120)
        assert proc.returncode != 0
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "--devices" in lines[0]


def test_online_grpo_on_web_pages(tiny_model_dir: str, tmp_path: Path) -> None:
    cfg = TrainConfig(
        model=tiny_model_dir, out=str(tmp_path / "run"), suite="miniwob-easy", steps=2, device="cpu",
        dtype="float32", rollout=RolloutConfig(devices="web:4", groups_per_step=2, group_size=2,
                                               max_new_tokens=40, max_steps=2),
    )
    trainer = Trainer(cfg)
    try:
        results = trainer.collect(step=0)
        assert len(results) == 4 and all(r.lost is None for r in results)
        by_group: dict[int, set[str | None]] = {}
        for r in results:
            by_group.setdefault(r.group, set()).add(r.start_hash)
        assert all(len(hashes) == 1 and None not in hashes for hashes in by_group.values()), by_group
        history = trainer.train()
    finally:
        trainer.close()
    assert [h["step"] for h in history] == [1, 2]
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()
    assert trainer.pages == []  # the browser is stopped with the run


def test_training_on_too_few_pages_for_a_group_is_refused(tiny_model_dir: str, tmp_path: Path) -> None:
    cfg = TrainConfig(model=tiny_model_dir, out=str(tmp_path / "run"), suite="miniwob-easy",
                      rollout=RolloutConfig(devices="web:2", group_size=4))
    with pytest.raises(TrainError, match="web:4"):
        Trainer(cfg)


def test_miniwob_smoke_preset_end_to_end(tmp_path: Path) -> None:
    proc = gui_grpo("train", "--preset", "miniwob-smoke", "--out", "runs/miniwob-smoke", "--no-progress",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "runs" / "miniwob-smoke"
    summary = json.loads((run / "quickstart.json").read_text())
    for key in ("before_test", "control_test", "after_test"):
        assert 0.0 <= summary[key]["success_rate"] <= 1.0
    assert "greedy success" in summary["table"]
    demos = [json.loads(line) for line in (run / "demos" / "steps.jsonl").read_text().splitlines()]
    assert demos and all(d["task"].startswith("miniwob.") for d in demos)
    played = (run / "eval_grpo_test" / "episodes.jsonl").read_text().splitlines()
    episodes = [json.loads(line) for line in played]
    assert episodes and all(e["device"].startswith("web:") for e in episodes)


def test_a_browser_killed_during_an_evaluation_loses_one_episode_and_the_rest_play(
    tiny_model_dir: str, tmp_path: Path
) -> None:
    import os
    import signal

    from gui_grpo.rollout.devices import open_devices

    pages: list = []

    def connect(spec):  # the evaluation's own web:1, kept at hand to kill its browser
        pages.extend(open_devices(spec))
        return list(pages)

    def progress(done: int, total: int, successes: int) -> None:
        if done == 1:
            os.killpg(pages[0].browser.pid, signal.SIGKILL)

    cfg = EvalConfig(model=tiny_model_dir, out=str(tmp_path / "eval"), suite="miniwob-easy", episodes=3,
                     devices="web:1", max_steps=2, max_new_tokens=40)
    summary = run_evaluation(cfg, connect=connect, progress=progress)
    records = [json.loads(line) for line in (tmp_path / "eval" / "episodes.jsonl").read_text().splitlines()]
    assert [r["lost"] is not None for r in records] == [False, True, False]
    assert "restarted" in records[1]["lost"]
    assert summary["lost_devices"] == [] and pages[0].browser.restarts == 1


def test_the_gymnasium_env_on_a_web_page(tmp_path: Path) -> None:
    from gui_grpo.policy.actions import format_action
    from gui_grpo.rollout.env import PhoneEnv, web_factory
    from tasks.base import get_task

    task = get_task("miniwob.click-button").sample(2)
    env = PhoneEnv(web_factory(), [task])
    try:
        obs, info = env.reset(seed=0)
        assert obs["screenshot"].shape == (210, 160, 3) and obs["instruction"] == task.instruction
        assert "Button" in obs["elements"]
        tap = next(iter(task.oracle(env.device)))
        text = format_action(tap, family=env.family, image_size=env.model_image_size(),
                             screen_size=env.screen_size, action_format=env.action_format)
        obs, reward, terminated, truncated, info = env.step(text)
        assert (reward, terminated, truncated) == (1.0, True, False)  # the page ended the episode
    finally:
        env.close()


def test_run_drives_a_web_page_opened_with_url(tiny_model_dir: str, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<button onclick='document.title = \"clicked\"'>Go</button>")
    base = ["run", "--devices", "web:1", "--task", "Click Go", "--model", tiny_model_dir, "--max-steps", "2",
            "--max-new-tokens", "40"]
    proc = gui_grpo(*base, "--url", page.as_uri(), "--out", "traj", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "trajectory saved" in proc.stdout
    record = json.loads((tmp_path / "traj" / "episode.json").read_text())
    assert record["num_steps"] >= 1 and record["lost"] is None
    for extra, says in (([], "--url URL"), (["--url", "javascript:alert(1)"], "file://")):
        proc = gui_grpo(*base, *extra, "--out", "t2", cwd=tmp_path, timeout=120)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], proc.stderr
