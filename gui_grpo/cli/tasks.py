"""``gui-grpo tasks``: list the task templates, verify them, write oracle demonstrations.

    gui-grpo tasks list   [--suite S] [--source gui-grpo|miniwob|all] [--json]
    gui-grpo tasks verify [--suite S] [--seeds N] [--template NAME ...] [--json]
    gui-grpo tasks demos  --suite S --seeds N --out DIR [--split train|test|heldout|all]

``list`` shows a suite (default ``standard``), or with ``--source`` every template of that source (within
``--suite`` when both are given); MiniWoB templates are listed with their solver and the suites that
hold them. ``verify`` and ``demos`` run phone templates on forks of a PhoneSim and web templates
(``miniwob-*`` suites) on one headless Chromium page whose setup reloads the task each time; a suite
cannot mix the two. ``verify`` exits 1 when an oracle fails or doing nothing succeeds. ``demos`` writes,
under DIR,
``steps.jsonl`` (one line per oracle step: task id, template, params, instruction, step index, the
screenshot path ``frames/<task>/<step>.png``, the numbered elements as prompt lines, the device or
control action as ``{"type": ..., fields}``, and the episode's final score) and ``episodes.jsonl`` (one
line per episode: task id, params, instruction, steps, score, answer, side effects).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from emulators.device import GuiDevice
from emulators.phonesim import SimDevice
from gui_grpo.cli.main import UserError
from tasks.base import Task, TaskError, get_task
from tasks.runner import run_oracle
from tasks.suites import (
    QUICKSTART_REWARD_ONLY,
    SOURCES,
    SPLITS,
    SUITES,
    held_out,
    load_templates,
    split_templates,
    suite_templates,
    template_seeds,
)
from tasks.verify import format_table, verify_template

SIM_SEED = 0
MINIWOB_SUITES = tuple(s for s in SUITES if s.startswith("miniwob"))


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tasks",
        help="list, verify and demonstrate task templates",
        description="Task templates: list them, verify them (PhoneSim or web pages), write demos.",
    )
    sub = p.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    suites = ", ".join(SUITES)

    ls = sub.add_parser("list", help="list templates of a suite or a source")
    ls.add_argument("--suite", default=None, help=f"one of {suites} (default standard, or all of --source)")
    ls.add_argument("--source", choices=(*SOURCES, "all"), default=None,
                    help="only templates written by gui-grpo (phone apps) or from MiniWoB++ (web pages)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=run_list)

    ver = sub.add_parser("verify", help="oracle / do-nothing / guessing / random-agent success per template")
    ver.add_argument("--suite", default="standard", help=f"one of {suites} (default standard)")
    ver.add_argument("--seeds", type=_positive, default=3, help="seeds per template (default 3)")
    ver.add_argument("--template", nargs="+", default=None, help="only these templates")
    ver.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ver.set_defaults(func=run_verify)

    demos = sub.add_parser("demos", help="write oracle demonstrations (PNG frames + JSONL)")
    demos.add_argument("--suite", default="standard", help=f"one of {suites} (default standard)")
    demos.add_argument("--seeds", type=_positive, default=5, help="episodes per template (default 5)")
    demos.add_argument("--split", choices=SPLITS, default="train", help="which seeds to draw (default train)")
    demos.add_argument("--out", type=Path, required=True, help="output directory")
    demos.set_defaults(func=run_demos)


def _templates(suite: str, names: list[str] | None = None, split: str = "all") -> list[type[Task]]:
    try:
        templates = split_templates(suite, split)
        if names:
            wanted = {get_task(n).name for n in names}
            templates = [t for t in templates if t.name in wanted]
    except TaskError as e:
        raise UserError(str(e)) from e
    return templates


def _split_of(cls: type[Task], suite: str) -> str:
    if cls.name in held_out(suite):
        return "heldout"
    if suite == "quickstart":
        return "reward-only" if cls.name in QUICKSTART_REWARD_ONLY else "demos"
    return "train/test"


def _has_oracle(cls: type[Task]) -> bool:
    return bool(getattr(cls, "solved", True))


def describe(cls: type[Task], suite: str = "standard") -> dict:
    web = cls.device_kind == "web"
    row = {
        "name": cls.name,
        "app": cls.app,
        "source": cls.source,
        "difficulty": cls.difficulty,
        "portability": "web" if web else "sim-only" if cls.sim_only else "portable",
        "information": cls.information,
        "split": _split_of(cls, suite),
        "max_steps": cls.max_steps,
        "params": sorted(cls.params_schema),
        "oracle": _has_oracle(cls),
        "example": cls.sample(0).instruction,
    }
    if web:
        row["suites"] = [s for s in MINIWOB_SUITES if cls in suite_templates(s)]
    return row


def _listed(suite: str | None, source: str | None) -> tuple[str, list[type[Task]]]:
    if suite is None and source is not None:
        return "standard", load_templates(source)
    templates = _templates(suite or "standard")
    return suite or "standard", [t for t in templates if source in (None, "all", t.source)]


def _print_table(rows: list[dict], suite: str) -> None:
    print(f"{'TEMPLATE':34} {'APP':9} {'LEVEL':6} {'RUNS ON':8} {'KIND':6} {'SPLIT':11}  EXAMPLE")
    for r in rows:
        kind = "answer" if r["information"] else "action"
        print(
            f"{r['name']:34} {r['app']:9} {r['difficulty']:6} {r['portability']:8} {kind:6} {r['split']:11}"
            f"  {r['example']}"
        )
    held = sum(r["split"] == "heldout" for r in rows)
    rest = "the rest train/test"
    if suite == "quickstart":
        reward_only = sum(r["split"] == "reward-only" for r in rows)
        rest = f"{reward_only} reward-only (GRPO from the checker alone), the rest with demonstrations"
    print(f"{len(rows)} templates; {held} held out (never trained on), {rest}")


def _print_pages(rows: list[dict]) -> None:
    """Web templates: the page writes the instruction, so the table shows the solver and suites."""
    print(f"{'TEMPLATE':36} {'LEVEL':6} {'STEPS':>5}  {'SOLVER':6}  SUITES")
    for r in rows:
        solver = "yes" if r["oracle"] else "-"
        print(f"{r['name']:36} {r['difficulty']:6} {r['max_steps']:5}  {solver:6}  {', '.join(r['suites'])}")
    solved = sum(r["oracle"] for r in rows)
    print(f"{len(rows)} MiniWoB++ templates on web pages (--devices web:N), {solved} with a scripted solver; "
          "the instruction is the page's utterance")


def run_list(args: argparse.Namespace) -> int:
    suite, templates = _listed(args.suite, args.source)
    rows = [describe(t, suite) for t in templates]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    phone = [r for r in rows if r["portability"] != "web"]
    pages = [r for r in rows if r["portability"] == "web"]
    if phone or not pages:
        _print_table(phone, suite)
    if pages:
        _print_pages(pages)
    return 0


def _sim_factory() -> Callable[[], GuiDevice]:
    """Fresh devices for verification: forks of one small-resolution PhoneSim."""
    base = SimDevice(seed=SIM_SEED, resolution="small", randomize=True)
    return lambda: base.fork(1)[0]


@contextmanager
def _devices_for(templates: list[type[Task]]) -> Iterator[Callable[[], GuiDevice]]:
    """A factory of devices the templates run on: PhoneSim forks, or one web page (every setup reloads
    its task, so the same page serves each episode); the page's browser stops on exit."""
    kinds = {t.device_kind for t in templates}
    if len(kinds) > 1:
        raise UserError("these templates need both phones and web pages: pick a suite of one kind")
    if kinds != {"web"}:
        yield _sim_factory()
        return
    from emulators.web import open_web_devices

    page = open_web_devices(1)[0]
    try:
        yield lambda: page
    finally:
        page.close()


def run_verify(args: argparse.Namespace) -> int:
    seeds = list(range(args.seeds))
    templates = _templates(args.suite, args.template)
    with _devices_for(templates) as make_device:
        reports = [verify_template(t, make_device, seeds) for t in templates]
    if args.json:
        print(json.dumps([r.as_dict() for r in reports], indent=2))
    else:
        print(format_table(reports))
        for r in reports:
            for err in r.errors:
                print(f"{r.name}: {err}")
    return 0 if all(r.ok for r in reports) else 1


def action_record(action: object) -> dict:
    return {"type": type(action).__name__.lower(), **asdict(action)}  # type: ignore[call-overload]


def record_demo(task: Task, device: GuiDevice, out: Path) -> tuple[list[dict], dict]:
    """Play ``task``'s oracle on ``device``, saving a frame per step; return step lines and the summary."""
    frames = out / "frames" / task.task_id.replace(":", "_")
    frames.mkdir(parents=True, exist_ok=True)
    steps: list[dict] = []

    def on_step(index: int, action: object) -> None:
        path = frames / f"{index:03d}.png"
        device.screenshot().save(path)
        steps.append(
            {
                "task_id": task.task_id,
                "template": task.name,
                "params": task.params,
                "instruction": task.instruction,
                "step": index,
                "image": str(path.relative_to(out)),
                "elements": [e.describe() for e in device.elements()],
                "action": action_record(action),
            }
        )

    outcome = run_oracle(task, device, on_step=on_step)
    for s in steps:
        s["score"] = outcome.score
    summary = {
        "task_id": task.task_id,
        "template": task.name,
        "params": task.params,
        "instruction": task.instruction,
        "steps": outcome.episode.steps,
        "score": outcome.score,
        "answer": outcome.episode.answer,
        "side_effects": outcome.side_effects,
    }
    return steps, summary


def run_demos(args: argparse.Namespace) -> int:
    templates = _templates(args.suite, split=args.split)
    if not all(_has_oracle(t) for t in templates):
        missing = sorted(t.name for t in templates if not _has_oracle(t))
        raise UserError(f"{len(missing)} templates of {args.suite} have no oracle ({missing[0]}, ...): "
                        "demonstrate a suite whose templates all have one, e.g. miniwob-easy")
    args.out.mkdir(parents=True, exist_ok=True)
    n_steps = n_eps = 0
    with (_devices_for(templates) as make_device, open(args.out / "steps.jsonl", "w") as steps_f,
          open(args.out / "episodes.jsonl", "w") as eps_f):
        for cls in templates:
            for seed in template_seeds(args.split, args.seeds):
                steps, summary = record_demo(cls.sample(seed), make_device(), args.out)
                steps_f.writelines(json.dumps(s) + "\n" for s in steps)
                eps_f.write(json.dumps(summary) + "\n")
                n_steps, n_eps = n_steps + len(steps), n_eps + 1
    print(f"wrote {n_eps} episodes, {n_steps} steps to {args.out}")
    return 0
