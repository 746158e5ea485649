"""Evaluation: Wilson intervals, metrics, trajectories that round-trip as Steps, devices that fail, and the
`gui-grpo eval` command with the tiny model (deterministic given seeds, bad inputs fail with one line)."""

from __future__ import annotations

import importlib.util
import io
import json
import re

import pytest
from PIL import Image

from emulators.errors import DeviceUnreachable
from emulators.phonesim import SimDevice
from gui_grpo.cli import main as cli
from gui_grpo.eval.evaluate import EvalConfig, rates, run_evaluation, summarize, wilson_interval
from gui_grpo.policy.engine import Completion, Policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.rollout.group import play_groups, start_group
from gui_grpo.rollout.trajectories import action_from_repr, load_episode, load_step_rows, save_episode
from tasks.suites import instances


def call(**arguments) -> str:
    return "<tool_call>\n" + json.dumps({"name": "mobile_use", "arguments": arguments}) + "\n</tool_call>"


TAP = call(action="click", coordinate=[100, 200])
DONE = call(action="terminate", status="success")


class ScriptedPolicy(Policy):
    """Writes texts[k] at an episode's k-th step (k read from the history in its prompt), no model."""

    def __init__(self, builder, texts):
        super().__init__(builder, engine=None)
        self.texts = texts

    def sample(self, prompts, seeds, greedy, max_batch):
        self.builder.encode(prompts)  # tokenises, and sets the image size the model would see
        out = []
        for p in prompts:
            k = len(re.findall(r"^Step \d+:", p.text, flags=re.M))
            text = self.texts[min(k, len(self.texts) - 1)]
            out.append(Completion([5, 6, 7], [-0.5, -0.25, -0.125], text, True))
        return out


@pytest.fixture(scope="module")
def processor(tiny_model_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_model_dir)


def scripted_policy(processor, texts):
    return ScriptedPolicy(PromptBuilder(processor, "qwen2_5_vl", PromptConfig()), texts)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def _rec(task, app, success, steps=2, invalid=0, claimed=None, lost=False, side=False):
    return {
        "task": task,
        "app": app,
        "success": success,
        "score": float(success),
        "num_steps": steps,
        "invalid_actions": invalid,
        "false_completion": claimed == "success" and not success and not lost,
        "side_effect": side,
        "is_lost": lost,
    }


def test_summarize_counts_lost_apart_and_groups_by_template_and_app():
    records = [
        _rec("a.x", "A", True, steps=3),
        _rec("a.x", "A", False, steps=5, invalid=2, claimed="success"),
        _rec("b.y", "B", False, lost=True, steps=1),
        _rec("b.y", "B", True, steps=2, side=True),
    ]
    s = summarize(records)
    o = s["overall"]
    assert (o["episodes"], o["scored"], o["successes"], o["lost"]) == (4, 3, 2, 1)
    assert o["success_rate"] == pytest.approx(2 / 3)
    assert o["mean_steps"] == pytest.approx(10 / 3)
    assert o["invalid_action_rate"] == pytest.approx(2 / 10)
    assert o["false_completion_rate"] == pytest.approx(1 / 3)
    assert o["side_effect_rate"] == pytest.approx(1 / 3)
    assert s["by_template"]["a.x"]["false_completion_rate"] == 0.5
    assert s["by_app"]["B"]["scored"] == 1 and s["by_app"]["B"]["lost"] == 1
    assert rates([])["success_rate"] is None


def test_action_from_repr_reads_only_actions():
    assert action_from_repr("Tap(x=5, y=9)").x == 5
    assert action_from_repr("Swipe(x1=1, y1=2, x2=3, y2=4, duration_ms=300)").y2 == 4
    assert action_from_repr("Invalid('no <tool_call> in output')") is None
    assert action_from_repr("__import__('os').system('true')") is None
    assert action_from_repr("Tap(x=-5, y=9)") is None


def test_trajectory_round_trips_as_steps_and_marks_the_tap(processor, tmp_path):
    policy = scripted_policy(processor, [TAP, DONE])
    task = instances("smoke", "test", 1, seed=3)[0]
    group = start_group(task, 7, 0, 1, lambda: SimDevice(seed=7, resolution="small"))
    [result] = play_groups(policy, [group], run_seed=0, step=0, greedy=True)
    assert [s.valid for s in result.steps] == [True, True] and result.claimed_status == "success"
    record = save_episode(result, tmp_path / "ep", {"success": False, "index": 0})
    assert record["num_steps"] == 2 and record["actions"][0].startswith("Tap(")
    again = load_episode(tmp_path / "ep")
    assert again.steps == result.steps  # every Step field, PNG bytes included
    assert again.claimed_status == "success" and again.task == task.name
    rows = load_step_rows(tmp_path / "ep")
    assert len({name for r in rows for name in r["images"]}) <= 2  # identical screens stored once
    raw = Image.open(io.BytesIO(result.steps[0].images_png[-1])).convert("RGB")
    marked = Image.open(tmp_path / "ep" / rows[0]["frame"]).convert("RGB")
    assert marked.size == (raw.size[0], raw.size[1] + 14)  # the frame plus a banner with the action

    def reds(im):  # pixels of the tap marker's red near the tapped model point (100, 200)
        box = im.crop((70, 170, 131, 231))
        return sum(1 for r, g, b in box.get_flattened_data() if r > 180 and g < 90 and b < 120)

    assert reds(marked) > 20 > reds(raw)

    # A trajectory written before Step gained elements / prompt_tokens / timing still loads.
    steps_file = next((tmp_path / "ep").glob("steps.jsonl"))
    old = [json.loads(line) for line in steps_file.read_text().splitlines()]
    for row in old:
        for key in ("elements", "prompt_tokens", "timing"):
            row.pop(key, None)
    steps_file.write_text("".join(json.dumps(row) + "\n" for row in old))
    assert [s.output_text for s in load_episode(tmp_path / "ep").steps] == [
        s.output_text for s in result.steps
    ]


def test_false_completion_is_measured(processor, tmp_path):
    cfg = EvalConfig(model="unused", out=str(tmp_path / "ev"), episodes=3, devices="sim:2", seed=1)
    summary = run_evaluation(cfg, policy=scripted_policy(processor, [TAP, DONE]))
    o = summary["overall"]
    assert o["scored"] == 3 and o["mean_steps"] == 2 and o["invalid_action_rate"] == 0
    # Tapping a launcher point does none of the smoke tasks, yet the agent claims success every time.
    assert o["success_rate"] == 0 and o["false_completion_rate"] == 1.0
    assert summary["observation"] == "pixels" and summary["decoding"] == "greedy"
    assert len(summary["instance_seeds"]) == 3 and summary["code_version"]
    lines = (tmp_path / "ev" / "episodes.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == [0, 1, 2]
    assert all(json.loads(x)["start_hash"] for x in lines)


class FlakyDevice(SimDevice):
    """A PhoneSim that cannot fork (like a phone) and breaks on its n-th tap."""

    can_fork = False

    def __init__(self, name, break_on=None):
        super().__init__(seed=0, resolution="small")
        self.name, self.break_on, self.taps = name, break_on, 0

    def tap(self, x, y):
        self.taps += 1
        if self.taps == self.break_on:
            raise DeviceUnreachable(f"{self.name}: connection reset")
        super().tap(x, y)


def test_device_lost_mid_run_is_dropped_and_the_rest_go_on(processor, tmp_path):
    devices = [FlakyDevice("good"), FlakyDevice("bad", break_on=1)]
    cfg = EvalConfig(model="unused", out=str(tmp_path / "ev"), episodes=4, devices="adb:h:1,h:2")
    summary = run_evaluation(
        cfg, policy=scripted_policy(processor, [TAP, DONE] * 4), connect=lambda spec: devices
    )
    assert summary["lost_devices"] == ["bad"]
    assert summary["overall"]["lost"] == 1 and summary["overall"]["scored"] == 3
    records = [json.loads(x) for x in (tmp_path / "ev" / "episodes.jsonl").read_text().splitlines()]
    assert [r["device"] for r in records] == ["good", "bad", "good", "good"]
    assert "connection reset" in records[1]["lost"]
    # Each episode replayed the setup on its device; every start is hashed.
    assert all(r["start_hash"] for r in records if not r["is_lost"])


def _main(argv, monkeypatch):
    missing = tuple(m for m in ("eval", "report", "run") if m not in cli.COMMAND_MODULES)
    monkeypatch.setattr(cli, "COMMAND_MODULES", cli.COMMAND_MODULES + missing)
    return cli.main(argv)


def test_eval_command_is_deterministic_and_writes_everything(tiny_model_dir, tmp_path, monkeypatch, capsys):
    args = [
        "eval",
        "--model",
        tiny_model_dir,
        "--suite",
        "smoke",
        "--episodes",
        "2",
        "--devices",
        "sim:2",
        "--max-steps",
        "1",
        "--max-new-tokens",
        "6",
        "--max-pixels",
        "40000",
        "--seed",
        "4",
    ]
    assert _main([*args, "--out", str(tmp_path / "a")], monkeypatch) == 0
    assert _main([*args, "--out", str(tmp_path / "b"), "--report"], monkeypatch) == 0
    printed = capsys.readouterr()
    assert "success" in printed.out and "eval: 2/2 episodes played" in printed.err  # progress as it plays
    table = printed.out.splitlines()
    assert table[0].split()[:3] == ["template", "success", "rate"] and table.count(table[0]) == 2
    assert any(line.startswith("overall ") for line in table)  # and the per-template table at the end
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in "ab")
    for key in ("created", "wall_s"):
        a.pop(key), b.pop(key)
    assert a == b and a["model"] == tiny_model_dir and a["suite"] == "smoke" and a["split"] == "test"
    assert (tmp_path / "a" / "episodes.jsonl").read_text() == (tmp_path / "b" / "episodes.jsonl").read_text()
    steps_a = load_episode(tmp_path / "a" / "episodes" / "0001").steps
    steps_b = load_episode(tmp_path / "b" / "episodes" / "0001").steps
    assert len(steps_a) == len(steps_b) == 1
    # Same tokens, text and frames; log-probs may differ in the last float bits between CPU runs.
    assert steps_a[0].logprobs == pytest.approx(steps_b[0].logprobs, abs=1e-4)
    steps_b[0].logprobs = steps_a[0].logprobs
    steps_b[0].timing = steps_a[0].timing  # wall-clock seconds
    assert steps_a == steps_b
    html = (tmp_path / "b" / "report.html").read_text()
    assert "checker: score 0.00" in html or "checker: score 1.00" in html  # the checker's verdict per episode
    assert "what it saw" in html and "Task: " in html and "[screenshot]" in html  # the prompt of each step
    assert "&lt;|im_start|&gt;system" not in html  # the user turn only, not the system prompt


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--suite", "nope"], "unknown suite 'nope'"),
        (["--devices", "adb:127.0.0.1:1"], "127.0.0.1:1"),
        (["--devices", "bogus"], "bad device spec"),
        pytest.param(["--engine", "vllm"], "pip install 'gui-grpo[vllm]'",  # where vLLM is not installed
                     marks=pytest.mark.skipif(bool(importlib.util.find_spec("vllm")), reason="has vLLM")),
    ],
)
def test_eval_bad_inputs_fail_with_one_line(extra, message, tiny_model_dir, tmp_path, monkeypatch, capsys):
    argv = ["eval", "--model", tiny_model_dir, "--episodes", "1", "--out", str(tmp_path / "o"), *extra]
    assert _main(argv, monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("gui-grpo eval: error:")


def test_eval_missing_model_fails(tmp_path, monkeypatch, capsys):
    assert _main(["eval", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o")], monkeypatch) == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_adapter_for_another_base_fails_in_one_line(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from gui_grpo.modeling.build import init_model
    from gui_grpo.policy.model import AdapterConfig, load_policy

    other = tmp_path / "other-base"
    init_model(other, family="qwen2_5_vl", size="small", seed=1)  # different widths: shapes cannot match
    model, _, _ = load_policy(other, device="cpu", dtype="float32", lora=AdapterConfig(r=4))
    model.save_pretrained(tmp_path / "adapter")
    capsys.readouterr()  # drop the setup's progress output
    argv = [
        "eval",
        "--model",
        tiny_model_dir,
        "--adapter",
        str(tmp_path / "adapter"),
        "--episodes",
        "1",
        "--out",
        str(tmp_path / "o"),
    ]
    assert _main(argv, monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    last = err.splitlines()[-1]  # earlier lines are transformers' weight-loading progress bars
    assert last.startswith("gui-grpo eval: error:") and "same base checkpoint" in last
    assert "Traceback" not in err
