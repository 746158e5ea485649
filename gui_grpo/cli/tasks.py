"""``gui-grpo tasks``: list the task templates, verify them on PhoneSim, write oracle demonstrations.

    gui-grpo tasks list   [--suite S] [--json]
    gui-grpo tasks verify [--suite S] [--seeds N] [--template NAME ...] [--json]
    gui-grpo tasks demos  --suite S --seeds N --out DIR [--split train|test|heldout|all]

``verify`` exits 1 when an oracle fails or doing nothing succeeds. ``demos`` writes, under DIR,
``steps.jsonl`` (one line per oracle step: task id, template, params, instruction, step index, the
screenshot path ``frames/<task>/<step>.png``, the numbered elements as prompt lines, the device or
control action as ``{"type": ..., fields}``, and the episode's final score) and ``episodes.jsonl`` (one
line per episode: task id, params, instruction, steps, score, answer, side effects).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from emulators.device import GuiDevice
from emulators.phonesim import SimDevice
from gui_grpo.cli.main import UserError
from tasks.base import Task, TaskError, get_task
from tasks.runner import run_oracle
from tasks.suites import QUICKSTART_REWARD_ONLY, SPLITS, SUITES, held_out, split_templates, template_seeds
from tasks.verify import format_table, verify_template

SIM_SEED = 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tasks",
        help="list, verify and demonstrate task templates",
        description="Task templates: list them, verify them on PhoneSim, write demos.",
    )
    sub = p.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="list templates of a suite")
    ls.add_argument("--suite", default="standard", help=f"one of {', '.join(SUITES)} (default standard)")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ls.set_defaults(func=run_list)

    ver = sub.add_parser("verify", help="oracle / do-nothing / guessing / random-agent success per template")
    ver.add_argument("--suite", default="standard", help=f"one of {', '.join(SUITES)} (default standard)")
    ver.add_argument("--seeds", type=_positive, default=3, help="seeds per template (default 3)")
    ver.add_argument("--template", nargs="+", default=None, help="only these templates")
    ver.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ver.set_defaults(func=run_verify)

    demos = sub.add_parser("demos", help="write oracle demonstrations (PNG frames + JSONL)")
    demos.add_argument("--suite", default="standard", help=f"one of {', '.join(SUITES)} (default standard)")
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


def describe(cls: type[Task], suite: str = "standard") -> dict:
    return {
        "name": cls.name,
        "app": cls.app,
        "difficulty": cls.difficulty,
        "portability": "sim-only" if cls.sim_only else "portable",
        "information": cls.information,
        "split": _split_of(cls, suite),
        "max_steps": cls.max_steps,
        "params": sorted(cls.params_schema),
        "example": cls.sample(0).instruction,
    }


def run_list(args: argparse.Namespace) -> int:
    rows = [describe(t, args.suite) for t in _templates(args.suite)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'TEMPLATE':34} {'APP':9} {'LEVEL':6} {'RUNS ON':8} {'KIND':6} {'SPLIT':11}  EXAMPLE")
    for r in rows:
        kind = "answer" if r["information"] else "action"
        print(
            f"{r['name']:34} {r['app']:9} {r['difficulty']:6} {r['portability']:8} {kind:6} {r['split']:11}"
            f"  {r['example']}"
        )
    held = sum(r["split"] == "heldout" for r in rows)
    rest = "the rest train/test"
    if args.suite == "quickstart":
        reward_only = sum(r["split"] == "reward-only" for r in rows)
        rest = f"{reward_only} reward-only (GRPO from the checker alone), the rest with demonstrations"
    print(f"{len(rows)} templates; {held} held out (never trained on), {rest}")
    return 0


def _sim_factory() -> Callable[[], GuiDevice]:
    """Fresh devices for verification: forks of one small-resolution PhoneSim."""
    base = SimDevice(seed=SIM_SEED, resolution="small", randomize=True)
    return lambda: base.fork(1)[0]


def run_verify(args: argparse.Namespace) -> int:
    make_device = _sim_factory()
    seeds = list(range(args.seeds))
    reports = [verify_template(t, make_device, seeds) for t in _templates(args.suite, args.template)]
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
    make_device = _sim_factory()
    args.out.mkdir(parents=True, exist_ok=True)
    n_steps = n_eps = 0
    with open(args.out / "steps.jsonl", "w") as steps_f, open(args.out / "episodes.jsonl", "w") as eps_f:
        for cls in _templates(args.suite, split=args.split):
            for seed in template_seeds(args.split, args.seeds):
                steps, summary = record_demo(cls.sample(seed), make_device(), args.out)
                steps_f.writelines(json.dumps(s) + "\n" for s in steps)
                eps_f.write(json.dumps(summary) + "\n")
                n_steps, n_eps = n_steps + len(steps), n_eps + 1
    print(f"wrote {n_eps} episodes, {n_steps} steps to {args.out}")
    return 0
