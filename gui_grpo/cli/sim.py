"""``gui-grpo sim``: work with PhoneSim outside training.

    gui-grpo sim screenshot [--app NAME] --out FILE.png [--resolution R] [--seed S] [--dark] [--no-randomize]
        save what the agent sees: the home screen or an app's first screen
    gui-grpo sim serve [--host H] [--port P] [--count N] [--seed S] [--resolution R] [--require-auth FILE]
        serve N PhoneSims over the ADB protocol on ports P, P+2, … (for `adb connect` and adb: specs)
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from emulators.adb.auth import BadPublicKey
from emulators.adb.server import DEFAULT_PORT, PORT_STEP, ServedDevices, serve_devices
from emulators.device import Device
from gui_grpo.cli.main import UserError

# adb servers probe these ports at start and register what answers as emulator-5554 etc.
EMULATOR_PORTS = range(5555, 5586)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"--count is 1-256, got {text!r}")
    return int(text)


def add_serve_parser(sim_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``serve`` to the ``sim`` command group."""
    p = sim_subparsers.add_parser(
        "serve", help="serve PhoneSims over the ADB protocol",
        description="Serve N independent PhoneSims over the ADB wire protocol on ports P, P+2, ... so that "
                    "`adb connect HOST:P`, adb-shell and `adb:HOST:P` device specs drive them. Runs until "
                    "Ctrl-C or SIGTERM.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; give 0.0.0.0 to serve other machines)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT,
                   help=f"port of the first sim (default {DEFAULT_PORT}, outside the 5555-5585 range adb "
                        "servers probe for emulators); 0 picks free ports")
    p.add_argument("--count", type=_count, default=1, help="how many sims to serve (default 1)")
    p.add_argument("--seed", type=int, default=0, help="PhoneSim seed; every sim starts from it (default 0)")
    p.add_argument("--resolution", choices=("default", "small"), default="default",
                   help="PhoneSim screen size (default: default)")
    p.add_argument("--require-auth", metavar="KEYS_FILE", default=None,
                   help="accept only hosts whose key is in this adbkey.pub-format file")
    p.set_defaults(func=run_serve)
    return p


def _warn_about_port(args: argparse.Namespace) -> None:
    ports = [args.port + i * PORT_STEP for i in range(args.count)] if args.port else []
    clash = [p for p in ports if p in EMULATOR_PORTS]
    if clash:
        print(f"warning: port {clash[0]} is in 5555-5585, which adb servers probe for emulators; the sim may "
              "show up twice in `adb devices`", file=sys.stderr)


def _start(devices: list[Device], args: argparse.Namespace) -> ServedDevices:
    try:
        return serve_devices(devices, args.host, args.port, trusted_keys_file=args.require_auth)
    except BadPublicKey as e:
        raise UserError(f"--require-auth: {e}") from e
    except FileNotFoundError as e:
        raise UserError(f"--require-auth: no such keys file {args.require_auth!r}") from e
    except OSError as e:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({e}); pick another --port") from e


def run_serve(args: argparse.Namespace) -> int:
    from emulators.phonesim import SimDevice  # the simulator is only loaded when serving it

    _warn_about_port(args)
    devices = [SimDevice(seed=args.seed, resolution=args.resolution) for _ in range(args.count)]
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    served = _start(devices, args)
    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        for i, address in enumerate(served.addresses):
            print(f"serving sim {i} on {address} (adb connect {address})", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        served.close()
        signal.signal(signal.SIGTERM, previous)
        for device in devices:
            device.close()
    print(f"stopped serving {len(devices)} sim(s)", flush=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``sim`` command group."""
    sim = subparsers.add_parser("sim", help="PhoneSim utilities (serve over ADB, ...)",
                                description="Work with PhoneSim outside training.")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="SUBCOMMAND", required=True)
    add_screenshot_parser(sim_sub)
    add_serve_parser(sim_sub)


def add_screenshot_parser(sim_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``screenshot`` to the ``sim`` command group."""
    p = sim_subparsers.add_parser(
        "screenshot", help="save a PhoneSim screenshot (home screen or an app)",
        description="Open an app on a fresh PhoneSim (through the same shell commands a phone gets) and "
                    "save the screen as a PNG.")
    p.add_argument("--app", default="home",
                   help="launcher label or package (settings, contacts, messages, ...); default: home screen")
    p.add_argument("--out", required=True, type=Path, help="PNG file to write")
    p.add_argument("--resolution", choices=("default", "small"), default="default")
    p.add_argument("--seed", type=int, default=0, help="domain-randomisation seed (default 0)")
    p.add_argument("--dark", action="store_true", help="dark theme")
    p.add_argument("--no-randomize", action="store_true", help="plain look: no accent/wallpaper/jitter")
    p.set_defaults(func=run_screenshot)
    return p


def run_screenshot(args: argparse.Namespace) -> int:
    from emulators.errors import InvalidAction
    from emulators.phonesim import SimDevice

    if args.out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {args.out}")
    if not args.out.parent.is_dir():
        raise UserError(f"directory {args.out.parent} does not exist")
    device = SimDevice(seed=args.seed, resolution=args.resolution, randomize=not args.no_randomize)
    if args.dark:
        device.check_shell("settings put secure ui_night_mode 2")
    if args.app != "home":
        try:
            device.open_app(args.app)
        except InvalidAction as e:
            raise UserError(str(e)) from e
    tmp = args.out.with_name(args.out.name + ".tmp")
    device.screenshot().save(tmp, format="PNG")
    tmp.replace(args.out)
    w, h = device.screen_size
    print(f"wrote {args.out} ({w}x{h}, app {args.app})")
    return 0
