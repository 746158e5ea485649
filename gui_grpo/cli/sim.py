"""``gui-grpo sim``: work with PhoneSim outside training.

    gui-grpo sim screenshot [--app NAME] --out FILE.png [--resolution R] [--seed S] [--dark] [--no-randomize]
        save what the agent sees: the home screen or an app's first screen
    gui-grpo sim serve [--host H] [--port P] [--count N] [--seed S] [--resolution R] [--require-auth FILE]
                       [--accept-new-keys refuse|pending]
        serve N PhoneSims over the ADB protocol on ports P, P+2, … (for `adb connect` and adb: specs)
    gui-grpo sim keys list KEYS_FILE / gui-grpo sim keys accept KEYS_FILE FINGERPRINT
        the host keys waiting in KEYS_FILE.pending, and trusting one of them
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from emulators.adb.auth import BadPublicKey
from emulators.adb.keys import accept_pending, fingerprint, pending_keys, pending_path
from emulators.adb.server import DEFAULT_PORT, PORT_STEP, ServedDevices, serve_devices
from emulators.device import AndroidDevice
from gui_grpo.cli.main import UserError

# adb servers probe these ports at start and register what answers as emulator-5554 etc.
EMULATOR_PORTS = range(5555, 5586)


def _whole(text: str, lo: int, hi: int) -> int | None:
    """``text`` as a number in [lo, hi] written with ASCII digits (at most 20 of them), else None."""
    if not (text.isascii() and text.isdigit()) or len(text) > 20 or not lo <= int(text) <= hi:
        return None
    return int(text)


def _port(text: str) -> int:
    value = _whole(text, 0, 65535)
    if value is None:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 in ASCII digits, got {text[:40]!r}")
    return value


def _count(text: str) -> int:
    value = _whole(text, 1, 256)
    if value is None:
        raise argparse.ArgumentTypeError(f"--count is 1-256 in ASCII digits, got {text[:40]!r}")
    return value


def _seed(text: str) -> int:
    value = _whole(text, 0, 2**63 - 1)
    if value is None:
        raise argparse.ArgumentTypeError(f"--seed is a whole number in ASCII digits, got {text[:40]!r}")
    return value


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
    p.add_argument("--seed", type=_seed, default=0,
                   help="PhoneSim seed; every sim starts from it (default 0)")
    p.add_argument("--sim-resolution", dest="resolution", choices=("default", "small"),
                   default="default", help="PhoneSim screen size (default: default)")
    p.add_argument("--resolution", dest="resolution", choices=("default", "small"),
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the old name
    p.add_argument("--require-auth", metavar="KEYS_FILE", default=None,
                   help="let in only hosts that sign with a key in this adbkey.pub-format file (reread when "
                        "it changes)")
    p.add_argument("--accept-new-keys", choices=("refuse", "pending"), default="refuse",
                   help="what to do with a key a host offers that is not trusted: refuse it (default), or "
                        "write it to KEYS_FILE.pending and log its fingerprint, trusted only once a person "
                        "runs `gui-grpo sim keys accept KEYS_FILE FINGERPRINT` (needs --require-auth)")
    p.set_defaults(func=run_serve)
    return p


def _warn_about_port(args: argparse.Namespace) -> None:
    ports = [args.port + i * PORT_STEP for i in range(args.count)] if args.port else []
    clash = [p for p in ports if p in EMULATOR_PORTS]
    if clash:
        print(f"warning: port {clash[0]} is in 5555-5585, which adb servers probe for emulators; the sim may "
              "show up twice in `adb devices`", file=sys.stderr)


def _start(devices: list[AndroidDevice], args: argparse.Namespace) -> ServedDevices:
    try:
        return serve_devices(devices, args.host, args.port, trusted_keys_file=args.require_auth,
                             accept_new_keys=args.accept_new_keys)
    except BadPublicKey as e:
        raise UserError(f"--require-auth: {e}") from e
    except FileNotFoundError as e:
        raise UserError(f"--require-auth: no such keys file {args.require_auth!r}") from e
    except OSError as e:
        raise UserError(f"cannot listen on {args.host}:{args.port} ({e}); pick another --port") from e


def run_serve(args: argparse.Namespace) -> int:
    from emulators.phonesim import SimDevice  # the simulator is only loaded when serving it

    if args.accept_new_keys == "pending" and args.require_auth is None:
        raise UserError("--accept-new-keys pending needs --require-auth KEYS_FILE (pending keys wait beside "
                        "that file until accepted)")
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
    add_keys_parser(sim_sub)


def add_keys_parser(sim_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``keys list`` and ``keys accept`` to the ``sim`` command group."""
    p = sim_subparsers.add_parser(
        "keys", help="host keys waiting to be trusted by `sim serve --accept-new-keys pending`",
        description="Keys that hosts offered to `sim serve --require-auth KEYS_FILE --accept-new-keys "
                    "pending` wait in KEYS_FILE.pending; list them, or accept one by its fingerprint (as a "
                    "phone's \"Allow USB debugging?\" prompt). An accepted key is appended to KEYS_FILE; a "
                    "running server trusts it from the next signature on.")
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="show the pending keys and their fingerprints")
    listing.add_argument("keys_file", metavar="KEYS_FILE", type=Path)
    listing.set_defaults(func=run_keys_list)
    accept = sub.add_parser("accept", help="trust a pending key (append it to KEYS_FILE)")
    accept.add_argument("keys_file", metavar="KEYS_FILE", type=Path)
    accept.add_argument("fingerprint", metavar="FINGERPRINT",
                        help="as logged by the server or shown by `sim keys list` (colons and case optional)")
    accept.set_defaults(func=run_keys_accept)
    return p


def run_keys_list(args: argparse.Namespace) -> int:
    pending = pending_keys(args.keys_file)
    if not pending:
        print(f"no keys are pending in {pending_path(args.keys_file)}")
        return 0
    for offered in pending:
        print(f"{fingerprint(offered.key)}  {offered.comment}")
    print(f"accept one with: gui-grpo sim keys accept {args.keys_file} FINGERPRINT")
    return 0


def run_keys_accept(args: argparse.Namespace) -> int:
    if not args.keys_file.is_file():
        raise UserError(f"no such keys file {str(args.keys_file)!r} (the --require-auth file of `sim serve`)")
    try:
        offered = accept_pending(args.keys_file, args.fingerprint)
    except LookupError as e:
        raise UserError(str(e.args[0])) from e
    except OSError as e:
        raise UserError(f"cannot update {args.keys_file}: {e.strerror or e}") from e
    print(f"trusted key {offered.fingerprint} ({offered.comment}): added to {args.keys_file}")
    return 0


def add_screenshot_parser(sim_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``screenshot`` to the ``sim`` command group."""
    p = sim_subparsers.add_parser(
        "screenshot", help="save a PhoneSim screenshot (home screen or an app)",
        description="Open an app on a fresh PhoneSim (through the same shell commands a phone gets) and "
                    "save the screen as a PNG.")
    p.add_argument("--app", default="home",
                   help="launcher label or package (settings, contacts, messages, ...); default: home screen")
    p.add_argument("--out", required=True, type=Path, help="PNG file to write")
    p.add_argument("--sim-resolution", dest="resolution", choices=("default", "small"),
                   default="default", help="PhoneSim screen size (default: default)")
    p.add_argument("--resolution", dest="resolution", choices=("default", "small"),
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the old name
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
