"""``gui-grpo eval``: measure a policy on a task suite's held-out instances."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gui_grpo.cli.main import UserError
from gui_grpo.cli.model_flags import add_model_flags, model_usage


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a policy on a task suite (success per template and app, trajectories)",
        description="Play K task instances of a suite split with the policy (greedy unless --sample) and "
        "write OUT/summary.json (success per template and app with Wilson 95% intervals, mean steps, "
        "invalid-action, false-completion and side-effect rates, lost devices), OUT/episodes.jsonl and "
        "one trajectory per episode under OUT/episodes/. `gui-grpo report OUT` renders it.",
    )
    add_model_flags(p)
    p.add_argument("--suite", default="smoke", help="task suite (default smoke; `gui-grpo tasks list`)")
    p.add_argument("--split", default="test", help="train, validation, test, heldout or all (default test)")
    p.add_argument("--engine", choices=["hf", "vllm"], default="hf",
                   help="hf: transformers (CPU or GPU, default); vllm: a CUDA machine with the vllm extra")
    p.add_argument("--episodes", type=int, default=8, help="task instances to play (default 8)")
    p.add_argument(
        "--devices", default="sim:1", help="sim:N, adb:HOST:PORT[,...] or serial:SERIAL[,...] (default sim:1)"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--sample", action="store_true", help="sample at --temperature instead of greedy")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0, help="instances, sim seeds and sampling seeds (default 0)")
    p.add_argument("--max-steps", type=int, help="step cap per episode (default: each task's own)")
    p.add_argument("--report", action="store_true", help="also write OUT/report.html")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):  # -> EvalConfig
    from gui_grpo.eval.evaluate import EvalConfig

    usage = model_usage(args)
    try:
        return EvalConfig(
            model=args.model,
            adapter=args.adapter,
            out=args.out,
            suite=args.suite,
            split=args.split,
            episodes=args.episodes,
            devices=args.devices,
            seed=args.seed,
            sample=args.sample,
            temperature=args.temperature,
            max_new_tokens=usage.max_new_tokens,
            max_steps=args.max_steps,
            sim_resolution=usage.sim_resolution,
            prompt=usage.prompt,
            engine=args.engine,
        )
    except ValueError as e:
        raise UserError(f"bad evaluation settings: {e}") from e


def _check_suite(cfg) -> None:
    from emulators.errors import BadDeviceSpec
    from emulators.specs import parse_device_spec
    from tasks.base import TaskError, check_device_kind
    from tasks.suites import split_templates

    try:
        spec = parse_device_spec(cfg.devices)
        check_device_kind(split_templates(cfg.suite, cfg.split), spec.kind, cfg.devices)
    except (TaskError, BadDeviceSpec) as e:
        raise UserError(str(e).splitlines()[0]) from e


def _progress(done: int, total: int, successes: int) -> None:
    print(f"eval: {done}/{total} episodes played, {successes} succeeded", file=sys.stderr, flush=True)


def template_table(summary: dict) -> str:
    """Success per template (with its Wilson 95 % interval) and overall, as a text table."""
    rows = [("template", "success", "rate", "95% interval", "lost")]
    for name, r in [*summary["by_template"].items(), ("overall", summary["overall"])]:
        rate = "n/a" if r["success_rate"] is None else f"{100 * r['success_rate']:.0f}%"
        lo, hi = r["success_ci95"]
        rows.append((name, f"{r['successes']}/{r['scored']}", rate, f"[{lo:.2f}, {hi:.2f}]", str(r["lost"])))
    width = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    cells = [[row[0].ljust(width[0]), *(c.rjust(w) for c, w in zip(row[1:], width[1:], strict=True))]
             for row in rows]
    lines = ["  ".join(c) for c in cells]
    return "\n".join([*lines[:-1], "-" * len(lines[0]), lines[-1]])


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    _check_suite(cfg)  # before loading the model: bad names fail fast
    from gui_grpo.eval.evaluate import EvalError, run_evaluation
    from gui_grpo.policy.engine import EngineError
    from gui_grpo.policy.model import ModelLoadError
    from tasks.base import TaskError

    try:
        summary = run_evaluation(cfg, progress=_progress)
    except (EvalError, ModelLoadError, TaskError, EngineError) as e:
        raise UserError(str(e)) from e
    print(template_table(summary))
    o = summary["overall"]
    rate = "n/a" if o["success_rate"] is None else f"{o['success_rate']:.2f}"
    lo, hi = o["success_ci95"]
    print(
        f"success {rate} [{lo:.2f}, {hi:.2f}] over {o['scored']} episodes ({o['lost']} lost); "
        f"written to {cfg.out}"
    )
    if args.report:
        from gui_grpo.eval.report.build import write_report

        print(f"report: {write_report([Path(cfg.out)])}")
    return 0
