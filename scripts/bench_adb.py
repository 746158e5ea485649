"""ADB over loopback: shell round-trip latency and screenshot frames/s, per client, PNG and raw.

Clients: adb-shell (``AdbDevice``), and the real ``adb`` tool through a private adb server port, measured
two ways: one ``adb`` process per call (what a script using the tool pays) and the adb server's host
protocol without a process per call (``SerialDevice``, what the ``serial:`` path pays). The PhoneSim is
served at the default resolution (1080x2400) by ``gui-grpo sim serve`` in a separate process (default; so
client and server do not share one interpreter's lock) or in this process (``--server in-process``).

    python scripts/bench_adb.py [--server subprocess|in-process] [--shells 300] [--frames 30] [--json FILE]

Targets: shell round trip <= 2 ms median through adb-shell; raw screenshots >= 15 frames/s through adb.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from emulators.adb.client import AdbDevice
from emulators.adb.host import AdbServerClient, SerialDevice
from emulators.adb.remote import RemoteDevice


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


@contextmanager
def served_sim(mode: str, resolution: str) -> Iterator[str]:
    """The address of a PhoneSim served over ADB, in a subprocess or in this process."""
    port = _free_port()
    if mode == "in-process":
        from emulators.adb.server import AdbServer
        from emulators.phonesim import SimDevice

        with AdbServer(SimDevice(seed=0, resolution=resolution), port=port) as server:
            yield server.address
        return
    cmd = [sys.executable, "-m", "gui_grpo.cli.main", "sim", "serve", "--port", str(port),
           "--resolution", resolution]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_listening(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class AdbTool:
    """The real ``adb`` on a private server port with a private HOME; the server is killed on exit."""

    def __init__(self, adb: str) -> None:
        self.adb = adb
        self.port = _free_port()
        self.home = tempfile.mkdtemp(prefix="bench-adb-home-")
        self.env = {**os.environ, "HOME": self.home, "ANDROID_ADB_SERVER_PORT": str(self.port)}

    def __call__(self, *args: str, timeout: float = 60) -> bytes:
        done = subprocess.run([self.adb, "-P", str(self.port), *args], capture_output=True, env=self.env,
                              timeout=timeout, check=True)
        return done.stdout

    def close(self) -> None:
        subprocess.run([self.adb, "-P", str(self.port), "kill-server"], capture_output=True, env=self.env,
                       timeout=30, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


def latency(fn: Callable[[], object], n: int, warmup: int = 5) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_ms": round(statistics.median(times) * 1000, 3),
            "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))] * 1000, 3), "n": n}


def rate(fn: Callable[[], object], n: int, warmup: int = 2) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    elapsed = time.perf_counter() - t0
    return {"frames_per_s": round(n / elapsed, 2), "ms_per_frame": round(elapsed / n * 1000, 1), "n": n}


def bench_device(device: RemoteDevice, shells: int, frames: int) -> dict[str, dict[str, float]]:
    """Shell round trip (with the exit-status sentinel) and decoded screenshots through a Device."""
    assert device.shell("echo ok").output == "ok\n"
    return {"shell": latency(lambda: device.shell("true"), shells),
            "raw": rate(device.screenshot_raw, frames), "png": rate(device.screenshot_png, frames)}


def bench_adb_tool(tool: AdbTool, address: str, shells: int, frames: int) -> dict[str, dict[str, float]]:
    """One ``adb`` process per call: ``adb shell true``, ``adb exec-out screencap [-p]`` (bytes to stdout)."""
    size = len(tool("-s", address, "exec-out", "screencap"))
    assert size > 1080 * 2400 * 4 or size > 1000, size
    return {"shell": latency(lambda: tool("-s", address, "shell", "true"), max(20, shells // 5)),
            "raw": rate(lambda: tool("-s", address, "exec-out", "screencap"), frames),
            "png": rate(lambda: tool("-s", address, "exec-out", "screencap", "-p"), frames)}


def run(args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {"server": args.server, "resolution": args.resolution,
                                  "load_before": os.getloadavg(), "cpus": os.cpu_count()}
    with served_sim(args.server, args.resolution) as address:
        device = AdbDevice(address, timeout_s=60)
        results["adb-shell"] = bench_device(device, args.shells, args.frames)
        device.close()
        adb = shutil.which("adb")
        if adb is None:
            print("adb not found: skipping the adb tool (apt-get install adb)", file=sys.stderr)
            return results
        tool = AdbTool(adb)
        try:
            tool("start-server")
            assert b"connected" in tool("connect", address)
            results["adb tool (process per call)"] = bench_adb_tool(tool, address, args.shells, args.frames)
            serial = SerialDevice(address, server=AdbServerClient(tool.port), timeout_s=60)
            results["adb server (host protocol)"] = bench_device(serial, args.shells, args.frames)
        finally:
            tool.close()
    results["load_after"] = os.getloadavg()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=("subprocess", "in-process"), default="subprocess")
    parser.add_argument("--resolution", choices=("default", "small"), default="default")
    parser.add_argument("--shells", type=int, default=300, help="shell round trips per client")
    parser.add_argument("--frames", type=int, default=30, help="screenshots per client and format")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    results = run(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
