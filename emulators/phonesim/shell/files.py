"""File commands of PhoneSim's shell, as toybox behaves: ls, cat, mkdir, rm, rmdir, touch, mv, cp, stat,
cd, pwd."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from emulators.phonesim.shell.base import CommandIO, ShellContext, take_flags
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.fs import FsError
from emulators.phonesim.state import FileNode


def _perms(node: FileNode) -> str:
    bits = "".join(ch if node.mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    return ("d" if node.is_dir else "-") + bits


def _long_line(ctx: ShellContext, path: str, node: FileNode, name: str) -> str:
    owner, group = ("root", "sdcard_rw") if path.startswith("/sdcard") else ("root", "root")
    if path.startswith("/data/local/tmp/"):
        owner, group = "shell", "shell"
    size = 4096 if node.is_dir else len(node.data)
    stamp = dt.datetime.fromtimestamp(node.mtime_ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
    links = 2 if node.is_dir else 1
    return f"{_perms(node)} {links} {owner} {group} {size} {stamp} {name}"


def _blocks(node: FileNode) -> int:
    return 4 if node.is_dir else (len(node.data) + 4095) // 4096 * 4


def _list_dir(ctx: ShellContext, path: str, flags: set[str]) -> list[str]:
    names = ctx.fs.children(path)
    if "a" not in flags:
        names = [n for n in names if not n.startswith(".")]
    entries = [(n, ctx.fs.resolve(path, n)) for n in names]
    if "a" in flags:
        entries = [(".", path), ("..", ctx.fs.parent(path))] + entries
    if "l" not in flags:
        return [n for n, _ in entries]
    nodes = [(n, p, ctx.fs.node(p)) for n, p in entries]
    lines = [f"total {sum(_blocks(nd) for _, _, nd in nodes if nd)}"]
    lines += [_long_line(ctx, p, nd, n) for n, p, nd in nodes if nd]
    return lines


def ls(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    flags, operands = take_flags(args, "la1dRhAF", "ls")
    operands = operands or ["."]
    status = 0
    files: list[str] = []
    dirs: list[tuple[str, str]] = []
    for shown in operands:
        path = ctx.fs.resolve(ctx.cwd, shown)
        node = ctx.fs.node(path)
        if node is None:
            io.err(f"ls: {shown}: No such file or directory\n")
            status = 1
        elif node.is_dir and "d" not in flags:
            dirs.append((shown, path))
        else:
            files.append(_long_line(ctx, path, node, shown) if "l" in flags else shown)
    blocks: list[str] = ["\n".join(sorted(files))] if files else []
    for shown, path in sorted(dirs):
        body = _list_dir(ctx, path, flags)
        header = f"{shown}:\n" if len(operands) > 1 else ""
        blocks.append(header + "\n".join(body))
    text = "\n\n".join(b for b in blocks)
    if text.strip():
        io.out(text + "\n")
    return status


def cat(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    _, operands = take_flags(args, "uvA", "cat")
    status = 0
    for shown in operands or ["-"]:
        if shown == "-":
            io.out(io.stdin)
            continue
        try:
            io.out(ctx.fs.read(ctx.fs.resolve(ctx.cwd, shown)))
        except FsError as e:
            io.err(f"cat: {shown}: {e.reason}\n")
            status = 1
    return status


def _each(ctx: ShellContext, io: CommandIO, command: str, operands: list[str],
          action: Callable[[str], None], quiet: bool = False) -> int:
    """Apply ``action(path)`` to each operand, reporting failures toybox-style; 1 if any failed."""
    if not operands and not quiet:
        raise CommandFailed(f"{command}: Needs 1 argument")
    status = 0
    for shown in operands:
        try:
            action(ctx.fs.resolve(ctx.cwd, shown))
        except FsError as e:
            if not (quiet and e.reason == "No such file or directory"):
                io.err(f"{command}: '{shown}': {e.reason}\n")
                status = 1
    return status


def mkdir(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    flags, operands = take_flags(args, "pv", "mkdir")

    def make(path: str) -> None:
        if "p" not in flags:
            ctx.fs.mkdir(path)
            return
        if ctx.fs.is_dir(path):
            return
        missing = []
        probe = path
        while ctx.fs.node(probe) is None:
            missing.append(probe)
            probe = ctx.fs.parent(probe)
        for p in reversed(missing):
            ctx.fs.mkdir(p)

    return _each(ctx, io, "mkdir", operands, make)


def rm(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    flags, operands = take_flags(args, "rRfiv", "rm")

    def remove(path: str) -> None:
        node = ctx.fs.node(path)
        if node is None:
            raise FsError("No such file or directory")
        if node.is_dir and not flags & {"r", "R"}:
            raise FsError("Is a directory")
        ctx.fs.remove(path)

    return _each(ctx, io, "rm", operands, remove, quiet="f" in flags)


def rmdir(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    _, operands = take_flags(args, "p", "rmdir")

    def remove(path: str) -> None:
        node = ctx.fs.node(path)
        if node is None:
            raise FsError("No such file or directory")
        if not node.is_dir:
            raise FsError("Not a directory")
        if ctx.fs.children(path):
            raise FsError("Directory not empty")
        ctx.fs.remove(path)

    return _each(ctx, io, "rmdir", operands, remove)


def touch(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    _, operands = take_flags(args, "acm", "touch")
    return _each(ctx, io, "touch", operands, ctx.fs.touch_file)


def _copy_or_move(ctx: ShellContext, args: list[str], io: CommandIO, command: str) -> int:
    flags, operands = take_flags(args, "rRfipv" if command == "cp" else "fivn", command)
    if len(operands) < 2:
        raise CommandFailed(f"{command}: Needs 2 arguments")
    *sources, target = operands
    target_path = ctx.fs.resolve(ctx.cwd, target)
    into_dir = ctx.fs.is_dir(target_path)
    if len(sources) > 1 and not into_dir:
        raise CommandFailed(f"{command}: '{target}' not directory")
    status = 0
    for shown in sources:
        src = ctx.fs.resolve(ctx.cwd, shown)
        dst = ctx.fs.resolve(target_path, ctx.fs.basename(src)) if into_dir else target_path
        try:
            node = ctx.fs.node(src)
            if node is None:
                raise FsError("No such file or directory")
            if command == "cp" and node.is_dir and not flags & {"r", "R"}:
                raise FsError("Is a directory (use -r)")
            if dst == src:
                raise FsError("Same file")
            existing = ctx.fs.node(dst)
            if existing is not None and existing.is_dir != node.is_dir:
                raise FsError("Is a directory" if existing.is_dir else "Not a directory")
            if command == "mv":
                ctx.fs.check_writable(src)
            if existing is not None:
                ctx.fs.remove(dst)
            ctx.fs.copy_tree(src, dst)
            if command == "mv":
                ctx.fs.remove(src)
        except FsError as e:
            io.err(f"{command}: '{shown}': {e.reason}\n")
            status = 1
    return status


def cp(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    return _copy_or_move(ctx, args, io, "cp")


def mv(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    return _copy_or_move(ctx, args, io, "mv")


def _stat_format(fmt: str, path: str, shown: str, node: FileNode) -> str:
    values = {
        "s": str(4096 if node.is_dir else len(node.data)),
        "n": shown,
        "F": "directory" if node.is_dir else "regular file",
        "Y": str(node.mtime_ms // 1000),
        "a": f"{node.mode:o}",
        "A": _perms(node),
        "%": "%",
    }
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(values.get(fmt[i + 1], "?"))
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)


def stat(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    fmt = "  File: %n\n  Size: %s\t%F\nAccess: (0%a/%A)\nModify: %Y"
    if len(args) >= 2 and args[0] == "-c":
        fmt, args = args[1], args[2:]
    if not args:
        raise CommandFailed("stat: Needs 1 argument")
    status = 0
    for shown in args:
        path = ctx.fs.resolve(ctx.cwd, shown)
        node = ctx.fs.node(path)
        if node is None:
            io.err(f"stat: '{shown}': No such file or directory\n")
            status = 1
        else:
            io.out(_stat_format(fmt, path, shown, node) + "\n")
    return status


def cd(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    target = args[0] if args else "/"
    path = ctx.fs.resolve(ctx.cwd, target)
    if not ctx.fs.is_dir(path):
        raise CommandFailed(f"/system/bin/sh: cd: {target}: No such file or directory", 2)
    ctx.cwd = path
    return 0


def pwd(ctx: ShellContext, args: list[str], io: CommandIO) -> int:
    io.out(ctx.cwd + "\n")
    return 0


FILE_COMMANDS = {
    "ls": ls, "cat": cat, "mkdir": mkdir, "rm": rm, "rmdir": rmdir, "touch": touch, "cp": cp, "mv": mv,
    "stat": stat, "cd": cd, "pwd": pwd,
}
