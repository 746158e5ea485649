"""Suites of templates and the splits that keep training and evaluation apart.

Suites of phone templates (source ``gui-grpo``, Android devices): ``smoke`` (a handful of one-step tasks,
for quick end-to-end checks), ``easy`` (every easy phone template), ``standard`` (every phone template),
``quickstart`` (the main job's 17 templates: demonstrated ones, reward-only ones and held-out ones,
``QUICKSTART_DEMOS`` / ``QUICKSTART_REWARD_ONLY`` / ``QUICKSTART_HELD_OUT``) and ``quickstart-demos`` (its
demonstrated templates alone). Suites of MiniWoB++ pages (source ``miniwob``, web pages:
``tasks.miniwob_tasks``): ``miniwob-easy`` (single-screen click and type pages with scripted solvers)
``miniwob-demos`` (``MINIWOB_DEMOS``: the 10 of them the ``miniwob`` preset demonstrates; docs/WEB.md) and
``miniwob`` (every page that runs headless with the device's actions; most have no solver, so
``tasks verify`` and demonstrations need ``miniwob-easy``). Splits, by the parameter seed modulo
``TEST_MODULUS``:

- ``train``: seeds with remainder 2, 3 or 4, templates not held out;
- ``validation``: remainder 1 (for development: choices are made here, never on the test split);
- ``test``: remainder 0 (unseen parameters and phrasings), templates not held out;
- ``heldout``: the suite's held-out templates (unseen templates, for generalisation), any seed;
- ``all``: everything in the suite.

Held-out templates are ``HELD_OUT`` for the phone suites but the quickstart ones, which hold out
``QUICKSTART_HELD_OUT``; the MiniWoB suites hold out none (their ``heldout`` split is empty).

``instances(suite, split, n, seed)`` cycles through the split's templates in an order drawn from ``seed``
and gives each a parameter seed from the split, so the same arguments always give the same instances.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Mapping
from typing import Literal

from tasks.base import Task, TaskError, all_tasks

Split = Literal["train", "validation", "test", "heldout", "all"]
SPLITS: tuple[str, ...] = ("train", "validation", "test", "heldout", "all")
TEST_MODULUS = 5
SEED_RANGE = 1_000_000

# Modules that define templates; importing them registers their templates.
TEMPLATE_MODULES: tuple[str, ...] = (
    "tasks.settings_tasks",
    "tasks.contacts_tasks",
    "tasks.messages_tasks",
    "tasks.calendar_tasks",
    "tasks.files_tasks",
    "tasks.clock_tasks",
    "tasks.notes_tasks",
    "tasks.calculator_tasks",
    "tasks.miniwob_tasks",
)
SOURCES: tuple[str, ...] = ("gui-grpo", "miniwob")
SMOKE: tuple[str, ...] = (
    "settings.wifi_off",
    "settings.bluetooth_on",
    "settings.airplane_on",
    "settings.dark_theme_on",
)
# One template per kind of skill, kept out of training to measure generalisation to unseen templates.
HELD_OUT: frozenset[str] = frozenset(
    {
        "settings.dark_theme_off",
        "contacts.unfavourite",
        "contacts.email_of",
        "messages.reply_latest",
        "calendar.count_on",
        "files.rename_folder",
        "clock.change_time",
        "notes.append",
    }
)

# The main job's suite (protocol v2, docs/LEARNING.md). D: oracle demonstrations for the warm start.
QUICKSTART_DEMOS: tuple[str, ...] = (
    "settings.wifi_off",
    "settings.bluetooth_on",
    "settings.airplane_on",
    "settings.device_name_info",
    "clock.alarm_off",
    "contacts.favourite",
    "files.create_folder",
)
# R: reward-only, trained by GRPO from their checkers alone; each is next to a demonstrated template.
QUICKSTART_REWARD_ONLY: tuple[str, ...] = (
    "settings.dark_theme_on",
    "settings.wifi_and_bluetooth_off",
    "settings.airplane_with_bluetooth",
    "settings.brightness",
    "clock.alarm_on",
    "contacts.unfavourite",
    "files.create_folder_in_documents",
)
# H: never trained, in either phase.
QUICKSTART_HELD_OUT: frozenset[str] = frozenset(
    {"settings.dark_theme_off", "settings.wifi_on", "contacts.delete"}
)
# The miniwob preset's demonstrated pages (D; docs/WEB.md); the rest of miniwob-easy is its reward-only R.
MINIWOB_DEMOS: tuple[str, ...] = (
    "miniwob.click-test",
    "miniwob.click-button",
    "miniwob.click-link",
    "miniwob.click-dialog",
    "miniwob.click-tab",
    "miniwob.focus-text",
    "miniwob.enter-text",
    "miniwob.click-checkboxes",
    "miniwob.login-user",
    "miniwob.choose-list",
)


def load_templates(source: str = "gui-grpo") -> list[type[Task]]:
    """Import every template module (so ``get_task`` knows every name) and return the registered
    templates of ``source`` (``gui-grpo``: the phone templates; ``miniwob``; ``all``), sorted by name."""
    if source not in (*SOURCES, "all"):
        raise TaskError(f"unknown template source {source!r}; known sources: {', '.join(SOURCES)}, all")
    for module in TEMPLATE_MODULES:
        importlib.import_module(module)
    return [t for t in all_tasks() if source in ("all", t.source)]


def suite_templates(suite: str) -> list[type[Task]]:
    """The templates of ``suite``; an unknown name raises ``TaskError`` listing the known ones."""
    if suite in ("miniwob", "miniwob-easy", "miniwob-demos"):
        pages = load_templates("miniwob")  # the easy ones are tasks.miniwob_tasks.MINIWOB_EASY
        if suite == "miniwob-demos":
            return [t for t in pages if t.name in MINIWOB_DEMOS]
        return pages if suite == "miniwob" else [t for t in pages if t.difficulty == "easy"]
    templates = load_templates()
    if suite == "standard":
        return templates
    if suite == "easy":
        return [t for t in templates if t.difficulty == "easy"]
    by_name = {t.name: t for t in templates}
    if suite == "smoke":
        return [by_name[n] for n in SMOKE]
    if suite == "quickstart":
        names = {*QUICKSTART_DEMOS, *QUICKSTART_REWARD_ONLY, *QUICKSTART_HELD_OUT}
        return [t for t in templates if t.name in names]
    if suite == "quickstart-demos":
        return [by_name[n] for n in sorted(QUICKSTART_DEMOS)]
    raise TaskError(f"unknown suite {suite!r}; known suites: {', '.join(SUITES)}")


SUITES: tuple[str, ...] = ("smoke", "easy", "standard", "quickstart", "quickstart-demos", "miniwob-easy",
                           "miniwob-demos", "miniwob")


def held_out(suite: str) -> frozenset[str]:
    """The templates ``suite`` never trains on (its ``heldout`` split)."""
    if suite.startswith("miniwob"):
        return frozenset()
    return QUICKSTART_HELD_OUT if suite.startswith("quickstart") else HELD_OUT


def split_templates(suite: str, split: str) -> list[type[Task]]:
    if split not in SPLITS:
        raise TaskError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
    templates = suite_templates(suite)
    if split == "all":
        return templates
    kept = held_out(suite)
    if split == "heldout":
        return [t for t in templates if t.name in kept]
    return [t for t in templates if t.name not in kept]


def is_test_seed(seed: int) -> bool:
    return seed % TEST_MODULUS == 0


def seed_split(seed: int) -> str:
    """``train``, ``validation`` or ``test``: the split a parameter seed belongs to."""
    rest = seed % TEST_MODULUS
    return "test" if rest == 0 else "validation" if rest == 1 else "train"


def draw_seed(rng: random.Random, split: str) -> int:
    """A parameter seed that belongs to ``split``."""
    base = rng.randrange(SEED_RANGE) * TEST_MODULUS
    if split == "test":
        return base
    if split == "validation":
        return base + 1
    if split == "train":
        return base + rng.randrange(2, TEST_MODULUS)
    return base + rng.randrange(TEST_MODULUS)


def instances(
    suite: str,
    split: str = "all",
    n: int = 10,
    seed: int = 0,
    weights: Mapping[str, float] | None = None,
) -> list[Task]:
    """``n`` task instances from ``suite`` / ``split``, reproducible from ``seed``.

    Templates are drawn round-robin (every template once before any twice), or, with ``weights`` (template
    name -> non-negative weight; missing names weigh 1), independently in proportion to their weights: a
    curriculum can then favour the templates that still teach something.
    """
    templates = split_templates(suite, split)
    if not templates:
        raise TaskError(f"suite {suite!r} has no templates in split {split!r}")
    rng = random.Random(f"instances:{suite}:{split}:{seed}")
    if weights is not None:
        w = [float(weights.get(t.name, 1.0)) for t in templates]
        if any(x < 0 for x in w) or sum(w) <= 0:
            raise TaskError("template weights must be >= 0 and not all 0")
        return [rng.choices(templates, w)[0].sample(draw_seed(rng, split)) for _ in range(n)]
    order: list[type[Task]] = []
    out: list[Task] = []
    for _ in range(n):
        if not order:
            order = list(templates)
            rng.shuffle(order)
        out.append(order.pop().sample(draw_seed(rng, split)))
    return out


def template_seeds(split: str, n: int, start: int = 0) -> list[int]:
    """The first ``n`` seeds from ``start`` on that belong to ``split`` (``heldout``/``all``: any)."""
    if split not in SPLITS:
        raise TaskError(f"unknown split {split!r}; known splits: {', '.join(SPLITS)}")
    out, s = [], start
    while len(out) < n:
        if split in ("heldout", "all") or seed_split(s) == split:
            out.append(s)
        s += 1
    return out
