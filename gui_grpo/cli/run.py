"""``gui-grpo run``: drive one phone, emulator or web page with the policy, behind a safety policy."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gui_grpo.cli.main import UserError
from gui_grpo.cli.model_flags import add_model_flags, model_usage


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="let the policy operate a phone or emulator on one instruction",
        description="Drive one device (adb:HOST:PORT, serial:SERIAL, sim:1, or web:1 with --url) with the "
        "policy until it "
        "terminates or the step cap. Only the action vocabulary reaches the device; key events are limited "
        "to BACK, HOME, ENTER, DEL and APP_SWITCH unless --allow-key adds more; waits and long presses are "
        "capped; it may open only the apps the instruction names unless --allow-app adds more ('*': any). "
        "The trajectory is saved like an evaluation episode.",
    )
    p.add_argument("--devices", dest="device",
                   help="the one device to drive: adb:HOST:PORT, serial:SERIAL, sim:1 or web:1[:WxH] "
                   "(avd: pools are for eval and train)")
    p.add_argument("--device", dest="device", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # old name
    p.add_argument("--task", required=True, help="the instruction, e.g. \"Turn on airplane mode\"")
    p.add_argument("--url", help="with --devices web:1: the page to open first (http://, https:// or file://)")
    add_model_flags(p, sim_resolution=False)
    p.add_argument("--max-steps", type=int, default=15, help="step cap (default 15)")
    p.add_argument("--max-wait", type=float, default=5.0,
                   help="longest wait or long press in seconds (default 5)")
    p.add_argument("--max-minutes", type=float,
                   help="stop the run after this many minutes (default: no limit)")
    p.add_argument("--dry-run", action="store_true", help="print actions and save screens; execute nothing")
    p.add_argument("--confirm", action="store_true", help="ask y/n/q on stdin before each action")
    p.add_argument("--allow-app", action="append", default=None, metavar="NAME",
                   help="an app the agent may open (repeatable; '*' for any installed app); "
                   "default: the apps the instruction names")
    p.add_argument("--allow-key", action="append", default=[], metavar="NAME",
                   help="an extra key the agent may press, e.g. VOLUME_UP (repeatable)")
    p.add_argument("--out", type=Path, help="trajectory directory (default runs/agent/<time>)")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def ask_stdin(question: str) -> str:
    """y, n or q from stdin; end of input means stop."""
    print(f"{question} [y/N/q] ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        return "q"
    answer = line.strip().lower()[:1]
    return answer if answer in ("y", "q") else "n"


def _open_device(spec_text: str, sim_resolution: str):
    from emulators.phonesim import SimDevice
    from emulators.specs import parse_device_spec

    spec = parse_device_spec(spec_text)
    if spec.count != 1 or spec.kind == "avd":
        raise UserError(f"run drives exactly one device: give adb:HOST:PORT, serial:SERIAL, sim:1 or web:1, "
                        f"not {spec}")
    if spec.kind == "sim":
        return SimDevice(seed=0, resolution=sim_resolution)  # the screen size the model was trained on
    from gui_grpo.rollout.devices import open_devices

    return open_devices(spec)[0]


def _open_url(device, url: str | None) -> None:
    """Load ``--url`` on a web page; refuse it for other devices and a page without one."""
    from emulators.web import WebDevice

    if not isinstance(device, WebDevice):
        if url is not None:
            raise UserError("--url is for web pages: drive one with --devices web:1 --url URL")
        return
    if url is None:
        raise UserError("a web page starts blank: give the page to open with --url URL")
    if not url.startswith(("http://", "https://", "file://")):
        raise UserError(f"--url must be an http://, https:// or file:// address, got {url[:60]!r}")
    device.goto(url)


def _policy(args: argparse.Namespace, usage):
    from gui_grpo.eval.evaluate import EvalConfig, load_eval_policy
    from gui_grpo.policy.model import ModelLoadError

    cfg = EvalConfig(model=args.model, adapter=args.adapter, out="", max_new_tokens=usage.max_new_tokens,
                     prompt=usage.prompt)
    try:
        return load_eval_policy(cfg)
    except ModelLoadError as e:
        raise UserError(str(e)) from e


def _allowed_apps(instruction: str, extra: list[str]) -> frozenset[str] | None:
    """The apps the instruction names plus ``--allow-app`` ones; None (any app) with ``--allow-app '*'``."""
    from gui_grpo.rollout.deploy import apps_named

    if "*" in extra:
        return None
    return apps_named(instruction) | frozenset(extra)


def _describe_apps(allowed: frozenset[str] | None) -> str:
    if allowed is None:
        return "apps the agent may open: any installed app (--allow-app '*')"
    if not allowed:
        return ("apps the agent may open: none (the instruction names no app; --allow-app NAME allows one, "
                "--allow-app '*' any)")
    return f"apps the agent may open: {', '.join(sorted(allowed))} (--allow-app NAME adds one, '*' any)"


def run(args: argparse.Namespace) -> int:
    from gui_grpo.rollout.deploy import AgentRun, DeployError, SafetyPolicy, run_agent

    if args.device is None:
        raise UserError("give --devices SPEC, the one device to drive: adb:HOST:PORT, serial:SERIAL or sim:1")
    try:
        safety = SafetyPolicy(
            allowed_keys=frozenset(SafetyPolicy().allowed_keys | set(args.allow_key)),
            allowed_apps=_allowed_apps(args.task, args.allow_app or []),
            max_wait_s=args.max_wait,
            max_steps=args.max_steps,
            max_minutes=args.max_minutes,
        )
    except DeployError as e:
        raise UserError(str(e)) from e
    usage = model_usage(args)
    print(_describe_apps(safety.allowed_apps))
    out = args.out or Path("runs/agent") / time.strftime("%Y%m%d-%H%M%S")
    # Before the model loads: an unreachable device fails fast.
    device = _open_device(args.device, usage.sim_resolution)
    try:
        _open_url(device, args.url)
        policy = _policy(args, usage)
        agent = AgentRun(args.task, out, safety, dry_run=args.dry_run,
                         confirm=ask_stdin if args.confirm else None, greedy=not args.sample, seed=args.seed)
        record = run_agent(device, policy, agent)
    finally:
        device.close()
    claimed = record["claimed_status"] and f"the agent claims {record['claimed_status']}; no checker ran"
    ending = record["lost"] or claimed or ("step cap" if record["truncated"] else "stopped")
    print(f"{record['num_steps']} steps ({ending}); trajectory saved in {out}")
    return 0 if record["lost"] is None else 1
