"""Task checks without a device: parsers of Android shell output, answer normalisation, params schemas,
template judgements over hand-written shell output, suites and splits."""

import shlex

import pytest

from tasks import answers
from tasks.base import Episode, ParamError, TaskError, get_task
from tasks.shell_reads import (
    MIME_EMAIL,
    MIME_NAME,
    MIME_PHONE,
    ShellReadError,
    bind_args,
    contacts_from,
    parse_rows,
    parse_setting,
    sms_from,
    wifi_enabled,
)
from tasks.suites import HELD_OUT, SMOKE, instances, load_templates, split_templates, suite_templates

TEMPLATES = load_templates()


def rows(*dicts: dict) -> str:
    """``content query`` output as Android prints it."""
    if not dicts:
        return "No result found.\n"
    lines = []
    for i, d in enumerate(dicts):
        fields = ", ".join(f"{k}={'NULL' if v is None else v}" for k, v in d.items())
        lines.append(f"Row: {i} {fields}")
    return "\n".join(lines) + "\n"


# -- parsers ------------------------------------------------------------------------------------------


def test_parse_rows_reads_android_output():
    out = "Row: 0 _id=1, display_name=Ana Diaz, starred=0\nRow: 1 _id=2, display_name=NULL, starred=1\n"
    assert parse_rows(out, ("_id", "display_name", "starred")) == [
        {"_id": "1", "display_name": "Ana Diaz", "starred": "0"},
        {"_id": "2", "display_name": None, "starred": "1"},
    ]


def test_parse_rows_keeps_commas_equals_and_newlines_in_the_last_column():
    out = (
        "Row: 0 _id=7, address=+34600111222, body=Hi, body=no, see you\nat 5\nRow: 1 _id=8, address=, body=\n"
    )
    got = parse_rows(out, ("_id", "address", "body"))
    assert got[0]["body"] == "Hi, body=no, see you\nat 5"
    assert got[1] == {"_id": "8", "address": "", "body": ""}


def test_parse_rows_empty_and_malformed():
    assert parse_rows("No result found.\n", ("_id",)) == []
    assert parse_rows("", ("_id",)) == []
    with pytest.raises(ShellReadError):
        parse_rows("Error while accessing provider:sms\n", ("_id",))
    with pytest.raises(ShellReadError, match="no column 'body'"):
        parse_rows("Row: 0 _id=1, address=5\n", ("_id", "address", "body"))


@pytest.mark.parametrize("out,want", [("1\n", "1"), ("null\n", None), ("My Phone\n", "My Phone"), ("", None)])
def test_parse_setting(out, want):
    assert parse_setting(out) == want


@pytest.mark.parametrize("value,on", [("1", True), ("2", True), ("0", False), (None, False)])
def test_wifi_on_reads_1_and_2_as_on(value, on):
    assert wifi_enabled(value) is on


def test_contacts_from_joins_raw_contacts_and_data():
    raw = rows(
        {"_id": 3, "starred": 1, "display_name": "Ana Diaz"}, {"_id": 5, "starred": 0, "display_name": None}
    )
    data = rows(
        {"raw_contact_id": 3, "mimetype": MIME_NAME, "data1": "Ana Diaz"},
        {"raw_contact_id": 3, "mimetype": MIME_PHONE, "data1": "+34 600 111 222"},
        {"raw_contact_id": 5, "mimetype": MIME_NAME, "data1": "Bo Lee"},
        {"raw_contact_id": 5, "mimetype": MIME_EMAIL, "data1": "bo@example.com"},
        {"raw_contact_id": 9, "mimetype": MIME_PHONE, "data1": "999"},  # a deleted raw contact's row
    )
    ana, bo = contacts_from(raw, data)
    assert (ana.name, ana.phones, ana.starred) == ("Ana Diaz", ["+34 600 111 222"], True)
    assert (bo.name, bo.emails, bo.starred) == ("Bo Lee", ["bo@example.com"], False)


def test_sms_from_orders_by_date():
    out = rows(
        {"_id": 2, "thread_id": 1, "address": "555", "date": 20, "type": 2, "body": "later, yes"},
        {"_id": 1, "thread_id": 1, "address": "555", "date": 10, "type": 1, "body": "first"},
    )
    assert [m.body for m in sms_from(out)] == ["first", "later, yes"]


def test_bind_args_survive_the_shell():
    args = shlex.split(bind_args({"body": "It's 5 o'clock; rm -rf /", "read": True, "date": 1772400000000}))
    assert args == [
        "--bind",
        "body:s:It's 5 o'clock; rm -rf /",
        "--bind",
        "read:i:1",
        "--bind",
        "date:l:1772400000000",
    ]


# -- answer normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer,expected,ok",
    [
        ("Orbit Echo 88", "Orbit Echo 88", True),
        ("  orbit echo 88. ", "Orbit Echo 88", True),
        ('"Orbit  Echo 88"', "Orbit Echo 88", True),
        ("The device name is Orbit Echo 88.", "Orbit Echo 88", True),
        ("Orbit Echo 89", "Orbit Echo 88", False),
        ("Orbit Echo", "Orbit Echo 88", False),
        ("It could be Orbit Echo 88 or maybe Nova River 12 or Blue Lynx 40 I think", "Orbit Echo 88", False),
        (None, "Orbit Echo 88", False),
        ("ana.diaz@example.com", "Ana.Diaz@example.com", True),
    ],
)
def test_text_matches(answer, expected, ok):
    assert answers.text_matches(answer, expected) is ok


@pytest.mark.parametrize(
    "answer,stored,ok",
    [
        ("+34 600 111 222", "+34 600 111 222", True),
        ("600111222", "+34 600 111 222", True),
        ("600-111-222", "+34 600 111 222", True),
        ("+34600111222", "600 111 222", True),
        ("Her number is (600) 111 222.", "+34 600 111 222", True),
        ("600 111 223", "+34 600 111 222", False),
        ("34600111222", "+1 600 111 222", False),
        ("600 111 222 or 415 555 0134", "600 111 222", False),
        ("I don't know", "600 111 222", False),
    ],
)
def test_phone_matches(answer, stored, ok):
    assert answers.phone_matches(answer, stored) is ok


@pytest.mark.parametrize(
    "answer,expected,ok",
    [
        ("3", 3, True),
        ("3 favourites", 3, True),
        ("There are 3.", 3, True),
        ("three", 3, False),
        ("2 or 3", 3, False),
        ("4", 3, False),
        ("", 3, False),
    ],
)
def test_count_matches(answer, expected, ok):
    assert answers.count_matches(answer, expected) is ok


@pytest.mark.parametrize(
    "answer,hm,ok",
    [
        ("7:05", (7, 5), True),
        ("07:05", (7, 5), True),
        ("7:05 am", (7, 5), True),
        ("7:05 PM", (19, 5), True),
        ("19:05", (19, 5), True),
        ("12:30 a.m.", (0, 30), True),
        ("7", (7, 0), False),
        ("13:05 pm", (13, 5), False),
        ("7:05 or 8:05", (7, 5), False),
    ],
)
def test_time_matches(answer, hm, ok):
    assert answers.time_matches(answer, *hm) is ok


# -- templates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", TEMPLATES, ids=lambda c: c.name)
def test_every_template_samples_deterministically_and_renders(cls):
    assert len(cls.phrasings) >= 3
    assert cls.difficulty in ("easy", "medium", "hard")
    a, b = cls.sample(17), cls.sample(17)
    assert a.params == b.params and a.instruction == b.instruction and a.task_id == f"{cls.name}:17"
    cls.validate_params(a.params)
    for i in range(len(cls.phrasings)):
        text = cls(a.params, phrasing=i).instruction
        assert text and "{" not in text and text.isascii()
    assert len({repr(cls.sample(s).params) + cls.sample(s).instruction for s in range(12)}) > 1
    assert cls.information == bool(cls.answer_guesses)


def test_params_schema_rejects_bad_values_naming_the_field():
    cls = get_task("contacts.add_with_phone")
    good = cls.sample(1).params
    with pytest.raises(ParamError, match="'phone'"):
        cls({**good, "phone": "call me"})
    with pytest.raises(ParamError, match="'name'"):
        cls({**good, "name": "Ána Díaz"})
    with pytest.raises(ParamError, match="missing parameters \\['world'\\]"):
        cls({k: v for k, v in good.items() if k != "world"})
    with pytest.raises(ParamError, match="'percent'"):
        get_task("settings.brightness")({"percent": 55})


def test_check_before_setup_raises():
    task = get_task("settings.wifi_on").sample(0)
    with pytest.raises(TaskError, match="before setup"):
        task.check(None, Episode(initial_state=None))  # type: ignore[arg-type]


def settings_out(**over: str) -> dict[str, str]:
    base = {
        "wifi": "1",
        "bluetooth": "0",
        "airplane": "0",
        "dark": "1",
        "brightness": "128",
        "device_name": "PhoneSim",
    }
    base.update(over)
    return {k: v + "\n" for k, v in base.items()}


def test_switch_judges_and_side_effects():
    ep = Episode(initial_state={"reads": settings_out(wifi="0")})
    wifi_on = get_task("settings.wifi_on").sample(0)
    assert wifi_on.judge(settings_out(wifi="2"), ep) == 1.0
    assert wifi_on.judge(settings_out(wifi="0"), ep) == 0.0
    assert wifi_on.side_effects_of(settings_out(wifi="0"), settings_out(wifi="1", dark="2")) == [
        "setting dark changed from False to True"
    ]
    dark = get_task("settings.dark_theme_on").sample(0)
    assert dark.judge(settings_out(dark="2"), ep) == 1.0 and dark.judge(settings_out(dark="1"), ep) == 0.0
    airplane = get_task("settings.airplane_on").sample(0)
    assert airplane.side_effects_of(settings_out(), settings_out(airplane="1", wifi="0")) == []


def test_brightness_tolerance_and_device_name_answer():
    task = get_task("settings.brightness")({"percent": 40}, phrasing=0)
    ep = Episode(initial_state={})
    assert task.judge(settings_out(brightness="102"), ep) == 1.0
    assert task.judge(settings_out(brightness="115"), ep) == 1.0
    assert task.judge(settings_out(brightness="120"), ep) == 0.0
    info = get_task("settings.device_name_info")({"device_name": "Nova Lynx 42"}, phrasing=1)
    assert info.judge({}, Episode(initial_state={}, answer="nova lynx 42")) == 1.0
    assert info.judge({}, Episode(initial_state={}, answer="PhoneSim")) == 0.0


def book(*contacts: tuple[int, str, str, bool]) -> dict[str, str]:
    """Contact reads for (raw id, name, phone, starred) tuples."""
    raw = rows(*({"_id": i, "starred": int(s), "display_name": n} for i, n, _, s in contacts))
    data = rows(*({"raw_contact_id": i, "mimetype": MIME_PHONE, "data1": p} for i, _, p, _ in contacts))
    return {"raw": raw, "data": data}


def test_contacts_judges():
    add = get_task("contacts.add_with_phone")({"name": "Ana Diaz", "phone": "+34 600 111 222", "world": 1})
    ep = Episode(initial_state={"reads": book((1, "Bo Lee", "555 0100", False))})
    assert add.judge(book((1, "Bo Lee", "555 0100", False), (2, "ana diaz", "600111222", False)), ep) == 1.0
    assert add.judge(book((1, "Bo Lee", "555 0100", False), (2, "Ana Diaz", "600111223", False)), ep) == 0.0
    assert add.potential(book((2, "Ana Diaz", "1", False))) == 0.5
    assert add.side_effects_of(ep.initial_state["reads"], book((2, "Ana Diaz", "600111222", False))) == [
        "contact 'Bo Lee' was deleted"
    ]
    delete = get_task("contacts.delete")({"name": "Bo Lee", "phone": "555 0100", "world": 1})
    assert delete.judge(book((2, "Ana Diaz", "1", False)), ep) == 1.0
    assert delete.judge(book((1, "Bo Lee", "555 0100", False)), ep) == 0.0
    fav = get_task("contacts.favourite")({"name": "Bo Lee", "phone": "555 0100", "world": 1})
    assert fav.judge(book((1, "Bo Lee", "555 0100", True)), ep) == 1.0
    assert fav.judge(book((1, "Bo Lee", "555 0100", False)), ep) == 0.0


def test_contacts_information_judges():
    phone_of = get_task("contacts.phone_of")({"name": "Bo Lee", "phone": "+1 415 555 0134", "world": 1})
    assert phone_of.judge({}, Episode(initial_state={}, answer="415-555-0134")) == 1.0
    assert all(
        phone_of.judge({}, Episode(initial_state={}, answer=g)) == 0.0 for g in phone_of.answer_guesses
    )
    count = get_task("contacts.count_favourites")({"favourites": 3, "others": 2, "world": 4})
    assert sum(s.starred for s in count.seeds()) == 3 and len(count.seeds()) == 5
    assert count.judge({}, Episode(initial_state={}, answer="3")) == 1.0
    assert count.judge({}, Episode(initial_state={}, answer="2")) == 0.0


def sms_rows(*msgs: tuple[int, str, int, str]) -> str:
    return rows(
        *({"_id": i, "thread_id": 1, "address": a, "date": i, "type": t, "body": b} for i, a, t, b in msgs)
    )


def test_messages_judges_count_only_new_sent_messages():
    task = get_task("messages.send_to_number")(
        {"number": "+44 700 900 1234", "text": "On my way", "world": 2}
    )
    start = {"sms": sms_rows((1, "7009001234", 2, "On my way"))}
    ep = Episode(initial_state={"reads": start})
    assert task.judge(start, ep) == 0.0  # the same message already sent before the episode does not count
    assert (
        task.judge({"sms": sms_rows((1, "7009001234", 2, "On my way"), (2, "07009001234", 2, "x"))}, ep)
        == 0.0
    )
    assert (
        task.judge(
            {"sms": sms_rows((1, "7009001234", 2, "On my way"), (3, "+447009001234", 2, "on my way."))}, ep
        )
        == 1.0
    )
    assert (
        task.judge({"sms": sms_rows((4, "+447009001234", 1, "On my way"))}, ep) == 0.0
    )  # received, not sent


def test_last_message_answer_is_the_targets_latest_incoming():
    task = get_task("messages.last_from").sample(3)
    msgs = task.messages()
    mine = [m for m in msgs if m.address == task.params["phone"]]
    assert task.expected() == [m for m in mine if m.incoming][-1].body
    assert msgs[-1].address != task.params["phone"]  # the newest message overall is someone else's
    assert task.judge({}, Episode(initial_state={}, answer=task.expected())) == 1.0
    assert task.judge({}, Episode(initial_state={}, answer=mine[0].body)) == 0.0


# -- suites ---------------------------------------------------------------------------------------------


def test_suites_and_splits():
    names = {t.name for t in TEMPLATES}
    assert set(SMOKE) <= names and HELD_OUT <= names
    assert all(t.difficulty == "easy" for t in suite_templates("easy"))
    assert not {t.name for t in split_templates("standard", "train")} & HELD_OUT
    n = len(split_templates("standard", "train"))
    train = instances("standard", "train", n=n, seed=1)
    test = instances("standard", "test", n=n, seed=1)
    assert all(t.seed % 5 for t in train) and all(t.seed % 5 == 0 for t in test)
    assert [t.task_id for t in train] == [t.task_id for t in instances("standard", "train", n=n, seed=1)]
    assert len({t.name for t in train}) == len(split_templates("standard", "train"))  # round-robin coverage
    assert {t.name for t in instances("standard", "heldout", n=len(HELD_OUT))} == set(HELD_OUT)
    with pytest.raises(TaskError, match="known suites: smoke, easy, standard"):
        suite_templates("hardest")
    with pytest.raises(TaskError, match="known tasks:"):
        get_task("settings.nope")


def test_weighted_instances_follow_the_weights():
    names = [t.name for t in split_templates("easy", "train")]
    favoured = names[0]
    weights = {name: 0.0 for name in names} | {favoured: 1.0, names[1]: 1.0}
    drawn = [t.name for t in instances("easy", "train", n=60, seed=3, weights=weights)]
    assert set(drawn) == {favoured, names[1]} and 15 < drawn.count(favoured) < 45
    assert [t.task_id for t in instances("easy", "train", n=10, seed=3, weights=weights)] == [
        t.task_id for t in instances("easy", "train", n=10, seed=3, weights=weights)
    ]
    with pytest.raises(TaskError, match="weights"):
        instances("easy", "train", n=2, weights={name: 0.0 for name in names})
