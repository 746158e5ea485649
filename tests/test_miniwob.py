"""MiniWoB++ templates on a real headless Chromium: what a trainer and an evaluator rely on.

Every ``miniwob-easy`` template is solved by its scripted solver (MiniWoB's own reward 1) on seeds of the
train and the test split, and scores 0 when nothing is done; the instruction is the page's utterance;
the same seed gives the same start on two pages; a wrong answer ends the episode with score 0; every
page of the ``miniwob`` suite loads, starts and scores 0 untouched. One browser with two pages serves
the module. Skipped when no Chromium is installed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout

import pytest

from emulators.actions import Tap, Terminate
from emulators.phonesim import SimDevice
from emulators.web import BrowserMissing, WebDevice, find_chromium, open_web_devices
from gui_grpo.cli.main import main
from tasks.base import Episode, Task, TaskError, get_task
from tasks.miniwob_tasks import LEFT_OUT, MINIWOB_EASY, MINIWOB_PAGES, UTTERANCE, pages_dir
from tasks.suites import load_templates, seed_split, suite_templates, template_seeds

try:
    find_chromium()
except BrowserMissing as e:
    pytest.skip(f"no Chromium to drive ({e})", allow_module_level=True)

EASY = [t.name for t in suite_templates("miniwob-easy")]
SOLVED_BEYOND_EASY = [t.name for t in suite_templates("miniwob") if t.solved and t.difficulty != "easy"]
SEEDS = (*template_seeds("train", 2), *template_seeds("test", 1))  # 2, 3 (train) and 0 (test)


@pytest.fixture(scope="module")
def pages() -> Iterator[list[WebDevice]]:
    devices = open_web_devices(2)
    yield devices
    for device in devices:
        device.close()


@pytest.fixture
def page(pages: list[WebDevice]) -> WebDevice:
    return pages[0]


def solve(task: Task, page: WebDevice) -> tuple[int, bool]:
    """Play the oracle's device actions through ``execute``; return the device steps and whether the
    page said it was finished before the last of them."""
    steps, early = 0, False
    for action in task.oracle(page):
        if isinstance(action, Terminate):
            break
        early = early or task.finished(page)
        page.execute(action)
        steps += 1
    return steps, early


def test_the_suites_hold_the_pages_they_say() -> None:
    assert len(EASY) == len(MINIWOB_EASY) >= 10
    assert {s % 5 for s in SEEDS} == {0, 2, 3} and {seed_split(s) for s in SEEDS} == {"train", "test"}
    on_disk = {p.stem for p in pages_dir().glob("*.html")}
    assert set(MINIWOB_PAGES) | set(LEFT_OUT) == on_disk, "every page is a template or left out, with why"
    assert not set(MINIWOB_PAGES) & set(LEFT_OUT)
    assert {t.name for t in suite_templates("miniwob")} == {f"miniwob.{p}" for p in MINIWOB_PAGES}
    assert all(t.source == "miniwob" for t in load_templates("miniwob"))
    assert not any(t.source == "miniwob" for t in suite_templates("standard"))  # phone suites stay phone


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", EASY)
def test_the_solver_earns_reward_1_and_doing_nothing_0(name: str, seed: int, page: WebDevice) -> None:
    task = get_task(name).sample(seed)
    initial = task.setup(page)
    assert task.instruction == initial["utterance"] == page.evaluate(UTTERANCE)
    assert not task.finished(page)
    assert task.check(page, Episode(initial)) == 0.0, "nothing done yet, yet it scores"

    steps, early = solve(task, page)
    assert task.finished(page) and not early, "the page ends the episode at the solver's last action"
    assert task.check(page, Episode(initial)) == 1.0, f"{task!r}: {page.evaluate('WOB_REWARD_REASON')}"
    assert steps + 1 <= task.max_steps  # the actions and the terminate fit the step budget

    initial = task.setup(page)  # the same page, reloaded: a fresh start
    assert not task.finished(page) and task.check(page, Episode(initial, claimed_status="success")) == 0.0


@pytest.mark.parametrize("name", SOLVED_BEYOND_EASY)
def test_solvers_beyond_the_easy_suite_earn_reward_1(name: str, page: WebDevice) -> None:
    task = get_task(name).sample(SEEDS[0])
    initial = task.setup(page)
    steps, early = solve(task, page)
    assert task.finished(page) and not early and task.check(page, Episode(initial)) == 1.0
    assert steps + 1 <= task.max_steps


@pytest.mark.parametrize("name", EASY)
def test_the_same_seed_gives_the_same_start_on_two_pages(name: str, pages: list[WebDevice]) -> None:
    first, second = get_task(name).sample(3), get_task(name).sample(3)
    a, b = first.setup(pages[0]), second.setup(pages[1])
    assert a == b and first.instruction == second.instruction
    assert pages[0].screenshot().tobytes() == pages[1].screenshot().tobytes()
    other = get_task(name).sample(8)
    assert other.params != first.params  # another seed, another page seed


def test_a_wrong_answer_ends_the_episode_with_score_0(page: WebDevice) -> None:
    task = get_task("miniwob.click-button").sample(2)
    initial = task.setup(page)
    target = task.instruction.split('"')[1]
    wrong = next(e for e in page.elements() if e.class_name == "web.Button" and e.text != target)
    page.execute(Tap(*wrong.center))
    assert task.finished(page)
    assert page.evaluate("WOB_RAW_REWARD_GLOBAL") == -1  # MiniWoB's failure: -1 in [-1, 1] ...
    assert task.check(page, Episode(initial)) == 0.0  # ... scores 0


# Pages where the element list shows nothing to act on, and why: the agent acts on the screenshot there.
NO_ELEMENTS: frozenset[str] = frozenset({
    "miniwob.drag-items-grid",  # jQuery UI sortable: the handler is on a zero-height list of floated items
})


def test_every_page_of_the_suite_starts_and_scores_0_untouched(page: WebDevice) -> None:
    for cls in suite_templates("miniwob"):
        task = cls.sample(0)
        initial = task.setup(page)
        assert task.instruction == initial["utterance"] and task.instruction.strip(), cls.name
        assert not task.finished(page), f"{cls.name} ended by itself"
        assert task.check(page, Episode(initial)) == 0.0, cls.name
        listed = page.elements()  # SVG pages too (their shapes have no isContentEditable)
        assert listed or cls.name in NO_ELEMENTS, f"{cls.name} shows nothing to act on"


def test_pages_without_a_solver_say_so(page: WebDevice) -> None:
    task = get_task("miniwob.click-shape").sample(0)
    task.setup(page)
    with pytest.raises(TaskError, match="no scripted solver"):
        next(iter(task.oracle(page)))


def test_the_instruction_before_setup_is_a_marker_and_checking_needs_setup(page: WebDevice) -> None:
    task = get_task("miniwob.enter-text").sample(0)
    assert task.instruction == "<miniwob.enter-text: the page writes the instruction at setup>"
    assert task.phrasing == 0 and task.page_instruction and task.ends_itself
    with pytest.raises(TaskError, match="before setup"):
        task.check(page, Episode(None))


def test_a_miniwob_template_on_a_phone_is_refused_in_one_line() -> None:
    task = get_task("miniwob.click-test").sample(0)
    with pytest.raises(TaskError) as caught:
        task.setup(SimDevice(seed=0, resolution="small"))
    assert str(caught.value) == "miniwob tasks run on web pages: use --devices web:N"


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def test_tasks_list_by_source() -> None:
    code, out = run_cli("tasks", "list", "--source", "miniwob")
    assert code == 0
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("miniwob.")}
    assert listed == {f"miniwob.{p}" for p in MINIWOB_PAGES}
    assert "settings." not in out and f"{len(MINIWOB_PAGES)} MiniWoB++ templates" in out
    click_test = next(line for line in out.splitlines() if line.startswith("miniwob.click-test "))
    assert "yes" in click_test and "miniwob-easy" in click_test

    code, out = run_cli("tasks", "list", "--source", "gui-grpo")
    assert code == 0 and "settings.wifi_off" in out and "miniwob." not in out

    code, out = run_cli("tasks", "list", "--suite", "miniwob-easy", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["name"] for r in rows} == set(EASY)
    assert all(r["oracle"] and r["portability"] == "web" and "miniwob-easy" in r["suites"] for r in rows)


def test_an_oracle_play_stops_when_the_page_ends_the_episode(page: WebDevice) -> None:
    from tasks.runner import run_oracle

    outcome = run_oracle(get_task("miniwob.click-button").sample(2), page)
    assert outcome.score == 1.0
    assert outcome.episode.actions and not isinstance(outcome.episode.actions[-1], Terminate)
    assert outcome.episode.claimed_status is None  # the page said done; nobody had to claim it
