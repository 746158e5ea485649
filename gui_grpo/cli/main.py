"""The ``gui-grpo`` command line.

Each command lives in ``gui_grpo/cli/<name>.py`` and exposes ``register(subparsers)``, which adds its
parser and sets ``func(args) -> int``. User errors are raised as ``UserError`` (or a named device/task
error) and printed as one line on stderr with exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from emulators.errors import DeviceError

# Modules under gui_grpo.cli, in the order they appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "train",
    "offline_data",
    "init_model",
    "sim",
    "tasks",
    "sft",
    "eval",
    "report",
    "run",
    "export",
)


class UserError(Exception):
    """Bad input from the user: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gui-grpo",
        description="Train, evaluate and run vision-language phone agents with GRPO.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"gui_grpo.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Weight-loading and shard-writing progress bars from transformers drown the run's own output.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, DeviceError) as e:
        print(f"gui-grpo {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gui-grpo {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`gui-grpo tasks list | head`): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return 141


if __name__ == "__main__":
    sys.exit(main())
