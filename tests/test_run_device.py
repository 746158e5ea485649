"""`gui-grpo run`: the safety policy, and runs against a PhoneSim served over the ADB protocol (real TCP,
AdbDevice): refused keys and apps never reach the device, dry-run executes nothing, --confirm can decline,
and the trajectory is saved like an evaluation episode."""

from __future__ import annotations

import json
import time

import pytest
from test_eval import DONE, ScriptedPolicy, _main, call

from emulators.actions import Key, LongPress, OpenApp, Tap, Wait
from emulators.adb import AdbDevice, serve_devices
from emulators.phonesim import SimDevice
from gui_grpo.policy.actions import Invalid
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.rollout.deploy import AgentRun, DeployError, SafetyPolicy, apps_named, run_agent, vet_action
from gui_grpo.rollout.trajectories import load_episode, load_step_rows


def test_safety_policy_vets_actions():
    safe = SafetyPolicy(allowed_apps=frozenset({"Settings"}), max_wait_s=2)
    size = (540, 1200)
    assert vet_action(Key("BACK"), safe, size).action == Key("BACK")
    for key in ("POWER", "CALL", "VOLUME_UP", "CAMERA"):
        assert "not allowed" in vet_action(Key(key), safe, size).refused
    loud = SafetyPolicy(allowed_keys=frozenset({"BACK", "KEYCODE_VOLUME_UP"}))
    assert vet_action(Key("VOLUME_UP"), loud, size).refused is None
    assert "allow-list" in vet_action(OpenApp("Contacts"), safe, size).refused
    assert vet_action(OpenApp("com.android.settings"), safe, size).refused is None
    capped = vet_action(Wait(30), safe, size)
    assert capped.action == Wait(2) and "capped" in capped.note
    pressed = vet_action(LongPress(10, 10, 9000), safe, size)
    assert pressed.action == LongPress(10, 10, 2000) and "capped" in pressed.note
    assert "outside" in vet_action(Tap(600, 10), safe, size).refused
    assert vet_action(Invalid("no <tool_call>", "x"), safe, size).refused.startswith("invalid output")
    with pytest.raises(DeployError):
        SafetyPolicy(allowed_keys=frozenset({"LAUNCH_MISSILES"}))


@pytest.fixture(scope="module")
def builder(tiny_model_dir):
    from transformers import AutoProcessor

    return PromptBuilder(AutoProcessor.from_pretrained(tiny_model_dir), "qwen2_5_vl", PromptConfig())


@pytest.fixture
def served(tmp_path):
    sim = SimDevice(seed=3, resolution="small")
    with serve_devices([sim], port=0) as servers:
        device = AdbDevice(servers.addresses[0], key_path=tmp_path / "adbkey", timeout_s=10)
        yield sim, device
        device.close()


SCRIPT = [
    call(action="key", text="POWER"),
    call(action="open", text="Contacts"),
    call(action="open", text="Settings"),
    DONE,
]


def _focus(device) -> str:
    return device.shell("dumpsys window | grep mCurrentFocus").output


def test_run_refuses_unsafe_actions_and_executes_the_rest(served, builder, tmp_path):
    sim, device = served
    assert "settings" not in _focus(device)
    safety = SafetyPolicy(allowed_apps=frozenset({"Settings"}))
    lines = []
    run = AgentRun("Open the settings", tmp_path / "run", safety, echo=lines.append)
    record = run_agent(device, ScriptedPolicy(builder, SCRIPT), run)
    rows = load_step_rows(tmp_path / "run")
    assert [r["status"] for r in rows] == ["refused", "refused", "executed", "ended"]
    assert "POWER" in rows[0]["note"] and "Contacts" in rows[1]["note"]
    assert "com.android.settings" in _focus(device)  # the allowed action reached the device over TCP
    assert record["claimed_status"] == "success" and record["refused_steps"] == 2
    assert record["device"].startswith("adb:127.0.0.1:") and len(lines) == 4
    # Saved like an evaluation episode: Steps read back, frames annotated, the refusal in the history.
    steps = load_episode(tmp_path / "run").steps
    assert len(steps) == 4 and steps[2].action == "OpenApp(app='Settings')"
    assert "(refused: key POWER is not allowed" in steps[1].prompt_text
    assert all((tmp_path / "run" / r["frame"]).is_file() for r in rows)


def test_the_default_allow_list_is_the_apps_the_instruction_names():
    assert apps_named("Add Bob to Contacts, then text him in Messages") == {"contacts", "messages"}
    assert apps_named("Turn on airplane mode") == frozenset()
    assert apps_named("Set an alarm in the clock app (not the calendar)") == {"clock", "calendar"}


def test_an_action_the_device_refuses_is_an_invalid_step_and_the_run_goes_on(served, builder, tmp_path):
    sim, device = served
    script = [call(action="open", text="NoSuchApp"), call(action="open", text="Settings"), DONE]
    run = AgentRun("Open the settings", tmp_path / "r", echo=lambda s: None)
    record = run_agent(device, ScriptedPolicy(builder, script), run)
    rows = load_step_rows(tmp_path / "r")
    assert [r["status"] for r in rows] == ["invalid", "executed", "ended"]
    assert not record["is_lost"] and record["lost"] is None and record["invalid_actions"] == 1
    steps = load_episode(tmp_path / "r").steps
    assert not steps[0].valid and "NoSuchApp" in steps[0].action
    assert "(invalid action:" in steps[1].prompt_text  # the model is told, as in training
    assert "com.android.settings" in _focus(device)


class SlowPolicy(ScriptedPolicy):
    def sample(self, prompts, seeds, greedy, max_batch):
        time.sleep(0.2)
        return super().sample(prompts, seeds, greedy, max_batch)


def test_run_stops_at_its_time_limit(served, builder, tmp_path):
    sim, device = served
    lines = []
    run = AgentRun("Wait", tmp_path / "t", SafetyPolicy(max_minutes=0.005), echo=lines.append)  # 0.3 s
    record = run_agent(device, SlowPolicy(builder, [call(action="wait", time=0)]), run)
    assert 1 <= record["num_steps"] <= 2 < run.safety.max_steps  # 0.2 s and more per step
    assert record["end_reason"] == "stopped" and not record["truncated"]
    assert "time limit" in lines[-1]
    with pytest.raises(DeployError, match="max_minutes"):
        SafetyPolicy(max_minutes=0)


def test_dry_run_executes_nothing(served, builder, tmp_path):
    sim, device = served
    before = sim.screenshot().tobytes()
    run = AgentRun("Open the settings", tmp_path / "dry", dry_run=True, echo=lambda s: None)
    run_agent(device, ScriptedPolicy(builder, SCRIPT), run)
    rows = load_step_rows(tmp_path / "dry")
    assert [r["status"] for r in rows] == ["refused", "dry_run", "dry_run", "ended"]
    assert sim.screenshot().tobytes() == before and "settings" not in _focus(device)


def test_confirm_can_decline_and_quit(served, builder, tmp_path):
    sim, device = served
    answers = iter(["n", "q"])
    questions = []

    def confirm(question):
        questions.append(question)
        return next(answers)

    script = [call(action="open", text="Settings"), call(action="system_button", button="Home"), DONE]
    run = AgentRun("Open the settings", tmp_path / "c", confirm=confirm, echo=lambda s: None)
    record = run_agent(device, ScriptedPolicy(builder, script), run)
    assert [r["status"] for r in load_step_rows(tmp_path / "c")] == ["declined", "stopped"]
    assert "OpenApp(app='Settings')" in questions[0] and "settings" not in _focus(device)
    assert record["num_steps"] == 2 and not record["truncated"]


def test_run_command_dry_run_against_served_sim(tiny_model_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    with serve_devices([SimDevice(seed=1, resolution="small")], port=0) as servers:
        argv = ["run", "--device", f"adb:{servers.addresses[0]}", "--task", "Turn on airplane mode",
                "--model", tiny_model_dir, "--dry-run", "--max-steps", "2", "--max-new-tokens", "6",
                "--max-pixels", "40000", "--out", str(tmp_path / "traj")]
        assert _main(argv, monkeypatch) == 0
    out = capsys.readouterr().out
    assert "step 1:" in out and "trajectory saved" in out
    assert "apps the agent may open: none (the instruction names no app" in out
    record = json.loads((tmp_path / "traj" / "episode.json").read_text())
    assert record["mode"] == "dry_run" and record["num_steps"] == 2 and record["truncated"]
    assert _main(["report", str(tmp_path / "traj")], monkeypatch) == 0
    assert "not checked" in (tmp_path / "traj" / "report.html").read_text()


def test_run_command_bad_inputs(tiny_model_dir, tmp_path, monkeypatch, capsys):
    base = ["run", "--task", "x", "--model", tiny_model_dir, "--out", str(tmp_path / "o")]
    assert _main([*base, "--device", "adb:127.0.0.1:1"], monkeypatch) == 2
    assert _main([*base, "--device", "sim:2"], monkeypatch) == 2
    assert _main([*base, "--device", "sim:1", "--allow-key", "NOPE"], monkeypatch) == 2
    assert _main([*base, "--device", "sim:1", "--max-minutes", "0"], monkeypatch) == 2
    assert _main([*base, "--device", "sim:1", "--allow-key", "9" * 5000], monkeypatch) == 2
    assert _main([*base, "--device", "sim:1", "--allow-key", "\u00b2"], monkeypatch) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 6 and all(line.startswith("gui-grpo run: error:") for line in err)
    assert "unknown keycode '9999" in err[4] and len(err[4]) < 400
