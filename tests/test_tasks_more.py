"""Calendar, Files, Clock, Notes and Calculator templates: pure checks over hand-written shell output, and
on PhoneSim (small resolution) doing nothing scores 0 and the oracle scores 1 for every template."""

import datetime as dt
import importlib
from fractions import Fraction

import pytest

from emulators.actions import Answer, Terminate
from emulators.phonesim import SimDevice
from tasks.app_records import (
    date_matches,
    dates_in,
    events_from,
    mentions,
    parse_ls,
    utc_ms,
)
from tasks.base import Episode, ParamError, all_tasks
from tasks.calculator_tasks import BadExpression, evaluate, number_matches, random_expression
from tasks.runner import play, run_do_nothing, run_guess, run_oracle

MODULES = ("calendar", "files", "clock", "notes", "calculator")
for _m in MODULES:
    importlib.import_module(f"tasks.{_m}_tasks")
TEMPLATES = [t for t in all_tasks() if t.__module__ in {f"tasks.{m}_tasks" for m in MODULES}]
BY_NAME = {t.name: t for t in TEMPLATES}
SEEDS = (1, 5)


def rows(*dicts: dict) -> str:
    """``content query`` output as Android prints it."""
    if not dicts:
        return "No result found.\n"
    return "".join(
        f"Row: {i} " + ", ".join(f"{k}={'NULL' if v is None else v}" for k, v in d.items()) + "\n"
        for i, d in enumerate(dicts)
    )


def ls_line(name: str, is_dir: bool = False, size: int = 12) -> str:
    kind = "drwxrwx--x" if is_dir else "-rw-rw----"
    return f"{kind} 2 root sdcard_rw {4096 if is_dir else size} 2026-03-02 09:00 {name}"


def listing(folders: dict[str, list[str]]) -> str:
    """``ls -la`` output over several folders; a name ending in ``/`` is a folder."""
    out = []
    for folder, names in folders.items():
        out += [f"{folder}/:", "total 8", ls_line(".", True), ls_line("..", True)]
        out += [ls_line(n.rstrip("/"), n.endswith("/")) for n in names] + [""]
    return "\n".join(out)


def episode(initial: dict | None = None, answer: str | None = None) -> Episode:
    return Episode(initial_state=initial or {"reads": {}}, answer=answer)


# -- parsers and matchers -----------------------------------------------------------------------------


def test_parse_ls_reads_several_folders_and_skips_dots():
    out = listing({"/sdcard": ["Download/", "window_dump.xml"], "/sdcard/Download": ["a b.pdf", "x.txt"]})
    got = parse_ls(out, ("/sdcard", "/sdcard/Download", "/sdcard/Documents"))
    assert [(e.name, e.is_dir) for e in got["/sdcard"]] == [("Download", True), ("window_dump.xml", False)]
    assert [e.name for e in got["/sdcard/Download"]] == ["a b.pdf", "x.txt"]
    assert got["/sdcard/Documents"] == []  # missing folder: left out of the listing, read as empty


def test_parse_ls_single_folder_has_no_header():
    out = "total 8\n" + ls_line("report.pdf") + "\n"
    assert [e.name for e in parse_ls(out, ("/sdcard/Download",))["/sdcard/Download"]] == ["report.pdf"]


def test_events_from_keeps_commas_in_titles():
    out = rows({"_id": 4, "dtstart": 1772442000000, "dtend": 1772445600000, "title": "Lunch, then gym"})
    (e,) = events_from(out)
    assert e.title == "Lunch, then gym" and e.start == dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "answer,ok",
    [
        ("Thursday, March 5, 2026", True),
        ("Mar 5th at 14:30", True),
        ("5 March", True),
        ("2026-03-05", True),
        ("March 6", False),
        ("March 5 or March 6", False),
        ("Thursday", False),
        (None, False),
    ],
)
def test_date_matches(answer, ok):
    assert date_matches(answer, dt.date(2026, 3, 5)) is ok


def test_dates_in_ignores_years_and_times():
    assert dates_in("Thu, Mar 5, 2026 at 14:30 - 15:00") == {(3, 5)}


def test_mentions_needs_whole_phrase():
    assert mentions("Yoga class, Budget review", "Budget review")
    assert not mentions("Budget", "Budget review")
    assert not mentions(None, "Budget review")


def test_calculator_expressions_are_exact():
    assert evaluate("7 + 3 * 4 - 10 / 5") == 17
    assert evaluate("72 / 6 - 10 * 9") == -78
    with pytest.raises(BadExpression):
        evaluate("4 / 0")
    for seed in range(50):
        import random

        value = evaluate(random_expression(random.Random(seed), 5, "+-*/"))
        assert value.denominator == 1


@pytest.mark.parametrize(
    "answer,ok",
    [
        ("17", True),
        ("The result is 17.", True),
        ("17.0", True),
        ("-17", False),
        ("7 + 10 = 17", False),
        (None, False),
    ],
)
def test_number_matches(answer, ok):
    assert number_matches(answer, Fraction(17)) is ok


def test_number_matches_negative_with_unicode_minus():
    assert number_matches("\u221278", Fraction(-78)) and number_matches("-78", Fraction(-78))


# -- judgements over hand-written output --------------------------------------------------------------


def test_add_event_judge_and_progress():
    task = BY_NAME["calendar.add_event"](
        {"title": "Yoga class", "day": "2026-03-05", "hour": 14, "minute": 30, "length": 45, "world": 1}
    )
    start = utc_ms(dt.date(2026, 3, 5), 14, 30)
    right = rows({"_id": 9, "dtstart": start, "dtend": start + 45 * 60_000, "title": "yoga class"})
    wrong_end = rows({"_id": 9, "dtstart": start, "dtend": start + 60 * 60_000, "title": "Yoga class"})
    assert task.judge({"events": right}, episode()) == 1.0
    assert task.judge({"events": wrong_end}, episode()) == 0.0
    assert task.potential({"events": wrong_end}) == pytest.approx(2 / 3)
    assert task.potential({"events": rows()}) == 0.0


def test_calendar_side_effects_name_the_deleted_event():
    task = BY_NAME["calendar.delete_event"].sample(0)
    other = {"_id": 1, "dtstart": 1, "dtend": 2, "title": "Book club"}
    mine = {"_id": 2, "dtstart": 1, "dtend": 2, "title": task.params["title"]}
    assert task.side_effects_of({"events": rows(other, mine)}, {"events": rows(other)}) == []
    assert task.side_effects_of({"events": rows(other, mine)}, {"events": rows(mine)}) == [
        "event 'Book club' was deleted"
    ]


def test_events_on_judge_rejects_extra_titles():
    task = BY_NAME["calendar.events_on"].sample(3)
    mine = [t for t, _, _ in task.on_day()]
    other = next(t for t, _, _ in task.planned() if t not in mine)
    assert task.judge({}, episode(answer=", ".join(mine))) == 1.0
    assert task.judge({}, episode(answer=", ".join([*mine, other]))) == 0.0
    assert task.judge({}, episode(answer=", ".join(mine[:-1]) or "Nothing")) == 0.0


def test_files_judges_and_side_effects():
    delete = BY_NAME["files.delete_file"]({"file": "report.pdf", "text": "Order number 55120", "world": 1})
    before = listing({"/sdcard": ["Download/"], "/sdcard/Download": ["report.pdf", "map.jpg"]})
    after = listing({"/sdcard": ["Download/", "window_dump.xml"], "/sdcard/Download": ["map.jpg"]})
    assert delete.judge({"ls": before}, episode()) == 0.0
    assert delete.judge({"ls": after}, episode()) == 1.0
    assert delete.side_effects_of({"ls": before}, {"ls": after}) == []
    gone = listing({"/sdcard": ["Download/"], "/sdcard/Download": []})
    assert delete.side_effects_of({"ls": before}, {"ls": gone}) == ["/sdcard/Download/map.jpg was removed"]
    create = BY_NAME["files.create_folder"]({"folder": "Taxes", "world": 1})
    assert create.judge({"ls": listing({"/sdcard": ["Taxes"]})}, episode()) == 0.0  # a file, not a folder
    assert create.judge({"ls": listing({"/sdcard": ["Taxes/"]})}, episode()) == 1.0


def test_alarm_switch_judge():
    task = BY_NAME["clock.alarm_off"]({"label": "Gym", "hour": 7, "minute": 30, "world": 1})
    on = rows({"_id": 3, "hour": 7, "minutes": 30, "enabled": 1, "label": "Gym"})
    off = rows({"_id": 3, "hour": 7, "minutes": 30, "enabled": 0, "label": "Gym"})
    off_moved = rows({"_id": 3, "hour": 8, "minutes": 30, "enabled": 0, "label": "Gym"})
    assert [task.judge({"alarms": o}, episode()) for o in (on, off, off_moved)] == [0.0, 1.0, 0.0]


def test_add_alarm_progress():
    task = BY_NAME["clock.add_alarm"]({"label": "Gym", "hour": 7, "minute": 30, "world": 1})
    half = rows({"_id": 3, "hour": 7, "minutes": 35, "enabled": 1, "label": "Gym"})
    assert task.potential({"alarms": half}) == pytest.approx(2 / 3)
    assert task.judge({"alarms": half}, episode()) == 0.0


def test_append_note_judge():
    task = BY_NAME["notes.append"](
        {"title": "Recipe", "body": "Bring the blue umbrella", "extra": "Bring cash", "world": 1}
    )

    def notes(body: str) -> dict[str, str]:
        return {"notes": rows({"_id": 1, "title": "Recipe", "body": body})}

    assert task.judge(notes("Bring the blue umbrella"), episode()) == 0.0
    assert task.judge(notes("Bring the blue umbrella\nBring cash"), episode()) == 1.0
    assert task.judge(notes("Bring cash"), episode()) == 0.0


def test_time_and_body_answers():
    alarm = BY_NAME["clock.time_of"]({"label": "Gym", "hour": 19, "minute": 5, "world": 1})
    assert [alarm.judge({}, episode(answer=a)) for a in ("19:05", "7:05 PM", "7:05", None)] == [1, 1, 0, 0]
    note = BY_NAME["notes.body_of"]({"title": "Recipe", "body": "Locker code is 4417", "world": 1})
    assert note.judge({}, episode(answer="It says: locker code is 4417.")) == 1.0
    assert note.judge({}, episode(answer="Locker code is 4471")) == 0.0


def test_params_are_validated():
    with pytest.raises(ParamError, match="day"):
        BY_NAME["calendar.delete_event"](
            {"title": "Yoga class", "day": "March 5", "hour": 9, "minute": 0, "length": 30, "world": 1}
        )
    with pytest.raises(ParamError, match="expression"):
        BY_NAME["calculator.compute_easy"]({"expression": "2 ** 8"})


def test_templates_declare_portability_and_difficulty():
    assert len(TEMPLATES) >= 30
    for t in TEMPLATES:
        assert t.sim_only == (
            t.app in ("Clock", "Notes", "Calculator") or t.name == "calendar.event_from_note"
        )
    assert {t.difficulty for t in TEMPLATES} == {"easy", "medium", "hard"}


# -- on PhoneSim --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fresh():
    base = SimDevice(seed=0, resolution="small", randomize=True)
    return lambda: base.fork(1)[0]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cls", TEMPLATES, ids=lambda c: c.name)
def test_nothing_scores_zero_and_oracle_one(cls, seed, fresh):
    task = cls.sample(seed)
    assert run_do_nothing(task, fresh()).score == 0.0, f"{task!r} is solved at the start"
    outcome = run_oracle(task, fresh())
    assert outcome.score == 1.0, f"oracle failed on {task!r}: {outcome.episode.actions}"
    assert outcome.side_effects == []
    assert isinstance(outcome.episode.actions[-1], Answer if cls.information else Terminate)
    assert outcome.episode.steps <= cls.max_steps


@pytest.mark.parametrize("cls", [t for t in TEMPLATES if t.information], ids=lambda c: c.name)
def test_guesses_rarely_succeed(cls, fresh):
    """Text answers are never guessed; a number (a count, a result) only as often as chance allows."""
    scores = [run_guess(cls.sample(s), fresh(), g).score for s in (2, 3, 4) for g in cls.answer_guesses]
    assert sum(scores) / len(scores) <= (0.25 if cls.app == "Calculator" or "count" in cls.name else 0.0)


def test_setup_resets_a_used_device(fresh):
    device = fresh()
    for name in ("files.create_folder", "clock.add_alarm", "notes.create", "calendar.add_event"):
        task = BY_NAME[name].sample(4)
        assert run_oracle(task, device).score == 1.0
        initial = task.setup(device)
        assert task.check(device, play(task, device, [Terminate("success")], initial)) == 0.0
