"""Reports show the checker's verdict and the expected answer: every information template knows the answer
its checker accepts, an episode records it, the report shows it beside the agent's answer, and the caption
drawn under a frame wraps instead of being cut off."""

from __future__ import annotations

import html
import json
import re

import pytest
from PIL import Image, ImageDraw, ImageFont

from emulators.phonesim import SimDevice
from gui_grpo.eval.report.build import render_report
from gui_grpo.eval.report.runs import load_run
from gui_grpo.policy.engine import Completion, Policy
from gui_grpo.policy.prompts import PromptBuilder, PromptConfig
from gui_grpo.rollout.group import play_groups, start_group
from gui_grpo.rollout.records import EpisodeResult
from gui_grpo.rollout.trajectories import (
    CAPTION_MARGIN,
    annotate_frame,
    load_episode,
    save_episode,
    wrap_caption,
)
from tasks.base import Episode, get_task
from tasks.suites import load_templates

TEMPLATES = load_templates()
INFORMATION = [t for t in TEMPLATES if t.information]


@pytest.fixture(scope="module")
def base_device():
    return SimDevice(seed=0, resolution="small", randomize=True)


def test_there_are_information_templates():
    assert len(INFORMATION) >= 10


@pytest.mark.parametrize("seed", (1, 5))
@pytest.mark.parametrize("cls", INFORMATION, ids=lambda c: c.name)
def test_the_expected_answer_is_what_the_checker_accepts(cls, seed, base_device):
    device = base_device.fork(1)[0]
    task = cls.sample(seed)
    initial = task.setup(device)
    expected = task.expected_answer(initial)
    assert isinstance(expected, str) and expected.strip(), f"{task!r} gives no expected answer"
    assert task.check(device, Episode(initial, answer=expected)) == 1.0, f"{task!r} rejects {expected!r}"
    # The checker is not satisfied by anything: a non-answer scores 0 on the same start.
    assert task.check(device, Episode(initial, answer="I could not find it")) == 0.0


@pytest.mark.parametrize("cls", [t for t in TEMPLATES if not t.information], ids=lambda c: c.name)
def test_tasks_that_are_not_questions_expect_no_answer(cls, base_device):
    task = cls.sample(1)
    assert task.expected_answer(task.setup(base_device.fork(1)[0])) is None


class AnsweringPolicy(Policy):
    """Answers every task with one fixed text, no model."""

    def __init__(self, builder: PromptBuilder, text: str) -> None:
        super().__init__(builder, engine=None)
        self.text = text

    def sample(self, prompts, seeds, greedy, max_batch):
        self.builder.encode(prompts)
        call = {"name": "mobile_use", "arguments": {"action": "answer", "text": self.text}}
        out = "<tool_call>\n" + json.dumps(call) + "\n</tool_call>"
        return [Completion([5, 6], [-0.5, -0.25], out, True) for _ in prompts]


@pytest.fixture(scope="module")
def builder(tiny_model_dir):
    from transformers import AutoProcessor

    return PromptBuilder(AutoProcessor.from_pretrained(tiny_model_dir), "qwen2_5_vl", PromptConfig())


def test_a_wrong_answer_is_reported_beside_the_expected_one(builder, tmp_path):
    task = get_task("settings.device_name_info").sample(3)
    wrong = "My Phone"
    group = start_group(task, 4, 0, 1, lambda: SimDevice(seed=4, resolution="small"))
    [result] = play_groups(AnsweringPolicy(builder, wrong), [group], run_seed=0, step=0, greedy=True)
    expected = task.params["device_name"]
    assert result.answer == wrong and result.score == 0.0
    assert result.expected_answer == expected  # recorded where the episode is scored
    save_episode(result, tmp_path / "ep", {"success": False, "is_lost": False, "index": 0})
    assert load_episode(tmp_path / "ep").expected_answer == expected  # round-trips through episode.json
    page = render_report([load_run(tmp_path / "ep")])
    shown = f"expected: <q>{html.escape(expected)}</q>, answered: <q>{html.escape(wrong)}</q>"
    assert shown in page
    verdict = re.search(r"<small>checker: score 0\.00[^<]*" + re.escape(shown), page)
    assert verdict, "the expected and given answers sit with the checker's score"


def test_a_task_without_an_answer_shows_no_expected_line(tmp_path):
    result = EpisodeResult("settings.wifi_off", {}, "Turn off Wi-Fi", 0, 0, 0, score=1.0)
    save_episode(result, tmp_path / "ep", {"success": True, "is_lost": False, "index": 0})
    page = render_report([load_run(tmp_path / "ep")])
    assert "checker: score 1.00" in page and "expected:" not in page


def _drawn_lines(monkeypatch) -> list[tuple[tuple[float, float], str]]:
    drawn: list[tuple[tuple[float, float], str]] = []
    original = ImageDraw.ImageDraw.text

    def record(self, xy, text, *args, **kwargs):
        drawn.append((tuple(xy), text))
        return original(self, xy, text, *args, **kwargs)

    monkeypatch.setattr(ImageDraw.ImageDraw, "text", record)
    return drawn


LONG = ("Answer(text='The last message from Ana Diaz says: running twenty minutes late, start the "
        "meeting without me and keep the slides open on page four')")


@pytest.mark.parametrize("caption", [LONG, "Invalid('" + "x" * 150 + "')"], ids=["words", "one-token"])
def test_a_long_caption_wraps_within_the_frame_and_keeps_every_character(caption, monkeypatch):
    drawn = _drawn_lines(monkeypatch)
    frame = Image.new("RGB", (160, 300), (200, 200, 200))
    out = annotate_frame(frame, caption, (1080, 2400))
    font = ImageFont.load_default()
    assert len(drawn) >= 3, "a caption several frames wide takes several lines"
    for (x, _), line in drawn:
        assert x + font.getlength(line) <= frame.width - CAPTION_MARGIN + 0.01, f"{line!r} overflows"
    assert "".join(line for _, line in drawn).replace(" ", "") == caption.replace(" ", "")
    ys = [y for (_, y), _ in drawn]
    assert ys == sorted(ys) and len(set(ys)) == len(ys), "one line under the other"
    assert out.width == frame.width and out.height > frame.height + 14 * (len(drawn) - 1)
    # The last line is inside the image: the banner grew to hold it.
    assert ys[-1] + 10 <= out.height


def test_wrap_caption_breaks_at_spaces_and_only_where_needed():
    font = ImageFont.load_default()
    assert wrap_caption("Tap(x=5, y=9)", font, 200) == ["Tap(x=5, y=9)"]
    lines = wrap_caption("aaa bbb ccc ddd", font, font.getlength("aaa bbb") + 1)
    assert lines == ["aaa bbb", "ccc ddd"]
    assert wrap_caption("", font, 50) == [""]
