"""Soak the ADB server: N concurrent clients against ``gui-grpo sim serve --count K`` for a bounded time.

    python scripts/soak_adb.py --clients 32 --count 4 --seconds 60 [--think-ms 100] [--json FILE]

The sims are served by ``gui-grpo sim serve --count K --port 0`` in a separate process (its own
interpreter). Half the clients (rounded up) are our adb-shell client (``emulators.adb.client.AdbDevice``;
push and pull, which ``AdbDevice`` does not wrap, go through adb-shell's sync on a second connection made
with the same transport as ``AdbDevice``'s, TCP_NODELAY on), the rest
are the real ``adb`` tool, one process per request (as a script using the tool pays), all through one adb
server on a private port with a private HOME. Client i drives sim i mod K. Every client repeats a weighted
mix: shell commands (getprop, wm size, dumpsys, pm, settings, ls, echo; 40 %), PNG screencap (15 %),
``uiautomator dump /dev/tty`` (15 %), input tap/swipe/HOME key (15 %), and a push of a 4 KiB file followed
by a pull of it (15 %), pausing ``--think-ms`` between requests (an agent or script does work between
calls; 0 makes it a closed-loop stress test). Each answer is checked (echo text, PNG signature, XML root,
pulled bytes equal pushed ones, exit status 0); anything else counts as an error.

Prints requests/s, p50/p99 latency per kind of request (overall and per client kind), the errors (counted,
first few shown) and the server process's RSS: at launch, as the soak starts (after each client's
warm-up round of one request of every kind), after ``--warm-up-s`` (default 10 s, at most a third of the
run), at the end and at most; the growth target is measured from the warm-up on. Targets (issue 22): 0 errors,
shell p99 <= 100 ms, RSS growth <= 5 %. Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from adb_shell.adb_device import AdbDevice as AdbShellDevice
from adb_shell.auth.sign_pythonrsa import PythonRSASigner

from emulators.adb.auth import ensure_key
from emulators.adb.client import AdbDevice
from emulators.adb.client import _Transport as AdbTransport  # AdbDevice's own: TCP_NODELAY, resets seen

SHELLS = ("getprop ro.build.version.sdk", "wm size", "dumpsys battery", "dumpsys window", "pm list packages",
          "settings get global airplane_mode_on", "ls /sdcard", "date")
MIX = (("shell", 40), ("screencap", 15), ("uiautomator", 15), ("input", 15), ("push", 15))
PAYLOAD_BYTES = 4096
SHOWN_ERRORS = 5
TIMEOUT_S = 30.0


class ShellClient:
    """Our ``AdbDevice`` for shell, screencap, dump and input; adb-shell's sync for push and pull."""

    kind = "adb-shell"

    def __init__(self, address: str, key: Path) -> None:
        self.device = AdbDevice(address, key_path=key, timeout_s=TIMEOUT_S)
        host, _, port = address.rpartition(":")
        self.sync = AdbShellDevice(AdbTransport(host, int(port)), default_transport_timeout_s=TIMEOUT_S)
        self.sync.connect(rsa_keys=[PythonRSASigner.FromRSAKeyPath(str(key))], auth_timeout_s=TIMEOUT_S)

    def shell(self, cmd: str) -> str:
        result = self.device.shell(cmd)
        if result.exit_code != 0:
            raise RuntimeError(f"`{cmd}` exited {result.exit_code}: {result.output[:100]!r}")
        return result.output

    def screencap(self) -> bytes:
        return self.device.exec_out("screencap -p")

    def dump(self) -> bytes:
        return self.device.exec_out("uiautomator dump /dev/tty")

    def push(self, local: Path, remote: str) -> None:
        self.sync.push(str(local), remote, read_timeout_s=TIMEOUT_S)

    def pull(self, remote: str, local: Path) -> None:
        self.sync.pull(remote, str(local), read_timeout_s=TIMEOUT_S)

    def close(self) -> None:
        self.device.close()
        self.sync.close()


class ToolClient:
    """The real ``adb``, one process per request, through a shared adb server."""

    kind = "adb tool"

    def __init__(self, server: AdbToolServer, address: str) -> None:
        self.server, self.address = server, address

    def _adb(self, *args: str) -> bytes:
        return self.server.run("-s", self.address, *args)

    def shell(self, cmd: str) -> str:
        # A legacy shell (the sim offers no shell v2): no exit status comes back, the output is checked.
        return self._adb("shell", cmd).decode()

    def screencap(self) -> bytes:
        return self._adb("exec-out", "screencap", "-p")

    def dump(self) -> bytes:
        return self._adb("exec-out", "uiautomator", "dump", "/dev/tty")

    def push(self, local: Path, remote: str) -> None:
        self._adb("push", str(local), remote)

    def pull(self, remote: str, local: Path) -> None:
        self._adb("pull", remote, str(local))

    def close(self) -> None:
        pass


class AdbToolServer:
    """The real ``adb`` server on a private port with a private HOME; killed on ``close``."""

    def __init__(self, adb: str) -> None:
        self.adb, self.port = adb, _free_port()
        self.home = tempfile.mkdtemp(prefix="soak-adb-home-")
        self.env = {**os.environ, "HOME": self.home, "ANDROID_ADB_SERVER_PORT": str(self.port)}
        self.run("start-server")

    def run(self, *args: str) -> bytes:
        done = subprocess.run([self.adb, "-P", str(self.port), *args], capture_output=True, env=self.env,
                              timeout=TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"adb {' '.join(args)[:80]} exited {done.returncode}: "
                               f"{(done.stderr or done.stdout)[-160:]!r}")
        return done.stdout

    def close(self) -> None:
        subprocess.run([self.adb, "-P", str(self.port), "kill-server"], capture_output=True, env=self.env,
                       timeout=30, check=False)
        shutil.rmtree(self.home, ignore_errors=True)


Client = ShellClient | ToolClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimServer:
    """``gui-grpo sim serve --count K --port 0`` in a subprocess; ``addresses`` as it printed them."""

    def __init__(self, count: int, resolution: str, log: Path) -> None:
        cmd = [sys.executable, "-m", "gui_grpo.cli.main", "sim", "serve", "--count", str(count),
               "--port", "0", "--sim-resolution", resolution]
        self.log = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     start_new_session=True)
        self.addresses: list[str] = []
        printed = threading.Event()
        threading.Thread(target=self._read_addresses, args=(count, printed), daemon=True).start()
        if not printed.wait(120) or len(self.addresses) < count:
            self.close()
            tail = log.read_text(errors="replace")[-800:]
            raise RuntimeError(f"sim serve did not print {count} addresses within 120 s: {tail}")

    def _read_addresses(self, count: int, printed: threading.Event) -> None:
        """Collect the ``serving sim I on ADDRESS`` lines; ``printed`` is set at the last or at EOF."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("serving sim "):
                self.addresses.append(line.split(" on ")[1].split()[0])
            if len(self.addresses) == count:
                break
        printed.set()

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@dataclass
class Tally:
    """One client's latencies per request kind and its errors."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (client kind and request kind, message)

    def add(self, kind: str, seconds: float) -> None:
        self.seconds.setdefault(kind, []).append(seconds)


class Worker:
    """One client's loop: warm up with one request of every kind, then the weighted mix until stopped."""

    def __init__(self, index: int, client: Client, work_dir: Path, think_s: float) -> None:
        self.index, self.client, self.think_s = index, client, think_s
        self.rng = random.Random(index)
        self.tally = Tally()
        self.local = work_dir / f"client-{index}.bin"
        self.back = work_dir / f"client-{index}.back"
        self.remote = f"/sdcard/Download/soak-{index}.bin"
        self.size = (1080, 2400)

    def warm_up(self) -> None:
        """One request of each kind, timed apart from the soak (its errors count); learns the screen size."""
        try:
            out = self.client.shell("wm size")
            width, height = out.split(":")[-1].strip().split("x")
            self.size = (int(width), int(height))
        except Exception as e:  # noqa: BLE001 - counted, and the taps keep the default size
            self._failed("wm size", e)
        for kind, _ in MIX:
            try:
                self.request(kind)
            except Exception as e:  # noqa: BLE001 - counted like the soak's own failures
                self._failed(kind, e)
        self.tally.seconds.clear()

    def _failed(self, kind: str, e: Exception) -> None:
        first = (str(e).splitlines() or [""])[0][:200]
        where = f"{self.client.kind} {kind}"
        self.tally.errors.append((where, f"{where} (client {self.index}): {type(e).__name__}: {first}"))

    def run(self, stop: threading.Event) -> None:
        kinds, weights = zip(*MIX, strict=True)
        while not stop.is_set():
            kind = self.rng.choices(kinds, weights)[0]
            try:
                self.request(kind)
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown, none ends the soak
                self._failed(kind, e)
            if self.think_s:
                stop.wait(self.think_s)

    def request(self, kind: str) -> None:
        if kind == "push":
            self._push_pull()
            return
        t0 = time.perf_counter()
        {"shell": self._shell, "screencap": self._screencap, "uiautomator": self._dump,
         "input": self._input}[kind]()
        self.tally.add(kind, time.perf_counter() - t0)

    def _shell(self) -> None:
        cmd = self.rng.choice((*SHELLS, "echo soak"))
        out = self.client.shell(cmd)
        if cmd == "echo soak" and out != "soak\n":
            raise ValueError(f"echo soak gave {out[:80]!r}")
        if cmd != "echo soak" and (not out or "not found" in out or "Can't find" in out):
            raise ValueError(f"`{cmd}` gave {out[:80]!r}")

    def _screencap(self) -> None:
        png = self.client.screencap()
        if not png.startswith(b"\x89PNG\r\n\x1a\n") or len(png) < 1000:
            raise ValueError(f"screencap -p gave {len(png)} bytes starting {png[:8]!r}")

    def _dump(self) -> None:
        xml = self.client.dump()
        if b"<hierarchy" not in xml or b"</hierarchy>" not in xml:
            raise ValueError(f"uiautomator dump gave {xml[:80]!r}")

    def _input(self) -> None:
        w, h = self.size
        roll = self.rng.random()
        if roll < 0.5:
            cmd = f"input tap {self.rng.randrange(w)} {self.rng.randrange(h)}"
        elif roll < 0.8:
            cmd = (f"input swipe {w // 2} {h * 3 // 4} {w // 2} {h // 4} {self.rng.randrange(50, 300)}")
        else:
            cmd = "input keyevent 3"  # HOME, so that random taps do not wander ever deeper into apps
        out = self.client.shell(cmd)
        if out.strip():
            raise ValueError(f"`{cmd}` printed {out[:80]!r}")

    def _push_pull(self) -> None:
        data = self.rng.randbytes(PAYLOAD_BYTES)
        self.local.write_bytes(data)
        t0 = time.perf_counter()
        self.client.push(self.local, self.remote)
        t1 = time.perf_counter()
        self.back.unlink(missing_ok=True)
        self.client.pull(self.remote, self.back)
        t2 = time.perf_counter()
        self.tally.add("push", t1 - t0)
        self.tally.add("pull", t2 - t1)
        if self.back.read_bytes() != data:
            raise ValueError(f"pulled {self.remote} differs from what was pushed")


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0-100) of ``values``, in ms."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return round(ordered[rank] * 1000, 1)


def summarise(workers: list[Worker], elapsed: float) -> dict[str, object]:
    """Requests/s, latency per kind (all clients, and per client kind), error count and the first few."""
    by_kind: dict[str, list[float]] = {}
    by_client: dict[str, list[float]] = {}
    for w in workers:
        for kind, seconds in w.tally.seconds.items():
            by_kind.setdefault(kind, []).extend(seconds)
            by_client.setdefault(f"{kind} [{w.client.kind}]", []).extend(seconds)
    errors = [e for w in workers for e in w.tally.errors]
    total = sum(len(v) for v in by_kind.values())

    def stats(values: list[float]) -> dict[str, float]:
        return {"n": len(values), "p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99),
                "max_ms": round(max(values) * 1000, 1)}

    return {"requests": total, "requests_per_s": round(total / elapsed, 1), "seconds": round(elapsed, 1),
            "latency": {k: stats(v) for k, v in sorted(by_kind.items())},
            "latency_by_client": {k: stats(v) for k, v in sorted(by_client.items())},
            "errors": len(errors), "errors_by_kind": dict(Counter(where for where, _ in errors)),
            "first_errors": [message for _, message in errors[:SHOWN_ERRORS]]}


def make_clients(addresses: list[str], n: int, key: Path, tool: AdbToolServer | None) -> list[Client]:
    """Client i on sim i mod K: even i our adb-shell client, odd i the real adb tool (when given)."""
    if tool is not None:
        for address in addresses:
            out = tool.run("connect", address).decode()
            if "connected" not in out:
                raise RuntimeError(f"adb connect {address}: {out.strip()}")
    clients: list[Client] = []
    for i in range(n):
        address = addresses[i % len(addresses)]
        clients.append(ToolClient(tool, address) if tool is not None and i % 2 else ShellClient(address, key))
    return clients


def in_threads(fns: list, name: str) -> list[threading.Thread]:
    threads = [threading.Thread(target=fn, name=f"{name}-{i}", daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    return threads


def soak(workers: list[Worker], server: SimServer, seconds: float) -> tuple[float, list[tuple[float, int]]]:
    """Run every worker for ``seconds``, sampling the server's RSS once a second; the elapsed time and
    the (seconds since the start, RSS) samples, the first taken as the clients start."""
    stop = threading.Event()
    t0 = time.perf_counter()
    rss = [(0.0, server.rss())]
    threads = in_threads([lambda w=w: w.run(stop) for w in workers], "soak")
    while not stop.wait(min(1.0, max(0.0, t0 + seconds - time.perf_counter()))):
        rss.append((time.perf_counter() - t0, server.rss()))
        if time.perf_counter() - t0 >= seconds:
            stop.set()
    for t in threads:
        t.join(TIMEOUT_S * 3)
    elapsed = time.perf_counter() - t0
    hung = [t.name for t in threads if t.is_alive()]
    if hung:
        raise RuntimeError(f"clients still busy {TIMEOUT_S * 3:.0f}s after the stop: {hung}")
    rss.append((elapsed, server.rss()))
    return elapsed, rss


def _own_cpu_s() -> float:
    """CPU seconds of this process and its finished children (the adb tool processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def rss_figures(launch: int, rss: list[tuple[float, int]], warm_up_s: float) -> dict[str, float]:
    """RSS in MiB at launch, at the start, after the warm-up (the first sample at or past ``warm_up_s``,
    at most a third of the run in), at the end and at most; growth from the warm-up (the target) and from
    the start."""
    warm_at = min(warm_up_s, rss[-1][0] / 3)
    t_warm, warm = next((t, r) for t, r in rss if t >= warm_at)
    start, end, mib = rss[0][1], rss[-1][1], 1 << 20
    return {"launch": round(launch / mib, 1), "start": round(start / mib, 1),
            "after_warm_up": round(warm / mib, 1), "warm_up_s": round(t_warm, 1), "end": round(end / mib, 1),
            "max": round(max(r for _, r in rss) / mib, 1), "growth_pct": round((end - warm) / warm * 100, 2),
            "growth_from_start_pct": round((end - start) / start * 100, 2),
            "every_5_s": [round(r / mib, 1) for _, r in rss[::5]]}


def run(args: argparse.Namespace, adb: str | None) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="soak-adb-"))
    key = ensure_key(work / "adbkey")
    server = SimServer(args.count, args.resolution, work / "server.log")
    tool = AdbToolServer(adb) if adb else None
    clients: list[Client] = []
    try:
        rss_launch = server.rss()
        clients = make_clients(server.addresses, args.clients, key, tool)
        workers = [Worker(i, c, work, args.think_ms / 1000) for i, c in enumerate(clients)]
        for t in in_threads([w.warm_up for w in workers], "warm-up"):
            t.join(TIMEOUT_S * 3)
        cpu0, own0 = server.cpu_s(), _own_cpu_s()
        elapsed, rss = soak(workers, server, args.seconds)
        cpu = {"server": round((server.cpu_s() - cpu0) / elapsed, 2),
               "clients_process": round((_own_cpu_s() - own0) / elapsed, 2)}
        result = summarise(workers, elapsed)
    finally:
        for c in clients:
            c.close()
        if tool is not None:
            tool.close()
        server.close()
        shutil.rmtree(work, ignore_errors=True)
    result["server_rss_mib"] = rss_figures(rss_launch, rss, args.warm_up_s)
    result["cpu_cores_used"] = cpu  # CPU seconds per wall second during the soak
    result["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    result["setup"] = {"clients": args.clients, "sims": args.count, "think_ms": args.think_ms,
                       "resolution": args.resolution, "adb_tool": adb, "cpus": os.cpu_count(),
                       "clients_by_kind": dict(Counter(c.kind for c in clients))}
    return result


def report(result: dict) -> str:
    """The figures as text, with each target marked ok or MISSED."""
    setup, rss = result["setup"], result["server_rss_mib"]
    kinds = ", ".join(f"{n} {k}" for k, n in setup["clients_by_kind"].items())
    lines = [f"soak_adb: {setup['clients']} clients ({kinds}) on {setup['sims']} sim(s), "
             f"think {setup['think_ms']} ms, {setup['resolution']} resolution, {setup['cpus']} CPUs",
             f"requests: {result['requests']} in {result['seconds']} s = "
             f"{result['requests_per_s']} requests/s",
             f"{'kind':<28}{'n':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    for table in ("latency", "latency_by_client"):
        for kind, st in result[table].items():
            lines.append(f"{kind:<28}{st['n']:>7}{st['p50_ms']:>9}{st['p99_ms']:>9}{st['max_ms']:>9}")
    cpu = result["cpu_cores_used"]
    lines.append(f"CPU cores used: server {cpu['server']}, clients (this process and its adb runs) "
                 f"{cpu['clients_process']}; load average {result['load_average_1m_end']}")
    lines.append(f"errors: {result['errors']} {result['errors_by_kind'] or ''}".rstrip())
    lines += [f"  {e}" for e in result["first_errors"]]
    lines.append(f"server RSS: launch {rss['launch']} MiB, start {rss['start']} MiB, "
                 f"after {rss['warm_up_s']} s {rss['after_warm_up']} MiB, end {rss['end']} MiB, "
                 f"max {rss['max']} MiB; growth after the warm-up {rss['growth_pct']:+.2f} % "
                 f"(from the start {rss['growth_from_start_pct']:+.2f} %)")
    shell_p99 = result["latency"].get("shell", {}).get("p99_ms", float("nan"))
    marks = [("errors == 0", result["errors"] == 0, result["errors"]),
             ("shell p99 <= 100 ms", shell_p99 <= 100, f"{shell_p99} ms"),
             ("RSS growth after warm-up <= 5 %", rss["growth_pct"] <= 5, f"{rss['growth_pct']:+.2f} %")]
    lines.append("targets: " + "; ".join(f"{name}: {value} {'ok' if good else 'MISSED'}"
                                         for name, good, value in marks))
    return "\n".join(lines)


def positive(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 4096:
        raise argparse.ArgumentTypeError(f"expected a whole number 1-4096, got {text[:40]!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=positive, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--count", type=positive, default=4, help="sims served (default 4)")
    parser.add_argument("--seconds", type=positive, default=60, help="how long the soak runs (default 60)")
    parser.add_argument("--warm-up-s", type=float, default=10.0,
                        help="RSS growth is measured from this many seconds in (at most a third of the run)")
    parser.add_argument("--think-ms", type=int, default=100, help="pause between a client's requests (100)")
    parser.add_argument("--resolution", choices=("default", "small"), default="default",
                        help="sim screen size (default 1080x2400)")
    parser.add_argument("--adb", default=shutil.which("adb"), help="the adb tool (default: adb on PATH)")
    parser.add_argument("--no-adb-tool", action="store_true", help="every client is the adb-shell client")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.count > 256 or args.think_ms < 0:
        parser.error("--count is at most 256 (sim serve's cap) and --think-ms is >= 0")
    adb = None if args.no_adb_tool else args.adb
    if not args.no_adb_tool and (adb is None or not Path(adb).is_file()):
        parser.error(f"the adb tool was not found ({adb}): install it (apt-get install adb), pass "
                     "--adb PATH, or --no-adb-tool")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: directory {args.json.parent} does not exist")
    result = run(args, adb)
    print(report(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
