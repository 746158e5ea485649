"""PhoneSim's filesystem as the shell sees it: path resolution, the /sdcard alias and write permissions.

Files live in ``PhoneState.files`` (absolute path -> ``FileNode``). ``/storage/emulated/0`` and
``/storage/self/primary`` name the same place as ``/sdcard``, as on Android. The ``shell`` user may write
under ``/sdcard`` and ``/data/local/tmp`` only; ``/system`` is a read-only file system.
"""

from __future__ import annotations

from emulators.phonesim.shell.errors import ShellError
from emulators.phonesim.shell.regex import BadRegex, Regex, compile_linear, escape, to_bytes
from emulators.phonesim.state import FileNode, PhoneState
from emulators.phonesim.ui_host import UiHost

SDCARD = "/sdcard"
ALIASES = ("/storage/emulated/0", "/storage/self/primary", "/mnt/sdcard")
WRITABLE_ROOTS = (SDCARD, "/data/local/tmp")
DEV_NULL = "/dev/null"


class FsError(ShellError):
    """A filesystem operation failed; ``reason`` is the strerror text (``No such file or directory``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SimFs:
    """Path operations over the host's ``PhoneState.files`` (read through the host on every call)."""

    def __init__(self, host: UiHost) -> None:
        self._host = host

    @property
    def files(self) -> dict[str, FileNode]:
        return self._host.state.files

    @property
    def state(self) -> PhoneState:
        return self._host.state

    # -- paths ----------------------------------------------------------------------------------------
    @staticmethod
    def resolve(cwd: str, path: str) -> str:
        """Absolute, normalised path with the shared-storage aliases mapped to ``/sdcard``."""
        if not path:
            raise FsError("No such file or directory")
        parts: list[str] = []
        for piece in (path if path.startswith("/") else f"{cwd}/{path}").split("/"):
            if piece in ("", "."):
                continue
            if piece == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(piece)
        full = "/" + "/".join(parts)
        for alias in ALIASES:
            if full == alias or full.startswith(alias + "/"):
                return SDCARD + full[len(alias):]
        return full

    @staticmethod
    def parent(path: str) -> str:
        return path.rsplit("/", 1)[0] or "/"

    @staticmethod
    def basename(path: str) -> str:
        return path.rsplit("/", 1)[1] or "/"

    # -- reading --------------------------------------------------------------------------------------
    def node(self, path: str) -> FileNode | None:
        if path == DEV_NULL:
            return FileNode(is_dir=False, mode=0o666)
        return self.files.get(path)

    def is_dir(self, path: str) -> bool:
        found = self.node(path)
        return found is not None and found.is_dir

    def children(self, path: str) -> list[str]:
        """Names directly inside directory ``path``, sorted."""
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):] for p in self.files if p.startswith(prefix) and "/" not in p[len(prefix):]}
        names.discard("")
        if path == "/dev":
            names.add("null")
        return sorted(names)

    def subtree(self, path: str) -> list[str]:
        """``path`` and everything below it."""
        prefix = path.rstrip("/") + "/"
        return [p for p in self.files if p == path or p.startswith(prefix)]

    def read(self, path: str) -> bytes:
        found = self.node(path)
        if found is None:
            raise FsError("No such file or directory")
        if found.is_dir:
            raise FsError("Is a directory")
        return found.data

    def glob(self, cwd: str, pattern: str, quoted_mask: list[bool]) -> list[str]:
        """Paths matching a pattern whose unquoted ``* ? [..]`` are wildcards (sorted; [] if none)."""
        segments: list[list[tuple[str, bool]]] = [[]]
        for ch, quoted in zip(pattern, quoted_mask, strict=True):
            if ch == "/":
                segments.append([])
            else:
                segments[-1].append((ch, quoted))
        absolute = pattern.startswith("/")
        found = [("/" if absolute else "", "/" if absolute else cwd)]
        for seg in filter(None, segments):
            regex = _segment_regex(seg)
            text = "".join(ch for ch, _ in seg)
            matched = []
            for shown, real in found:
                if regex is None:
                    names = [text]
                else:
                    shown_hidden = text.startswith(".")
                    names = [n for n in self.children(real)
                             if regex.fullmatch(to_bytes(n)) and (shown_hidden or not n.startswith("."))]
                for name in names:
                    full = self.resolve(real, name)
                    if self.node(full) is not None:
                        sep = "" if shown in ("", "/") else "/"
                        matched.append((f"{shown}{sep}{name}", full))
            found = matched
        return sorted(shown for shown, _ in found)

    # -- writing --------------------------------------------------------------------------------------
    def check_writable(self, path: str) -> None:
        """Raise unless the ``shell`` user may create, change or remove ``path``."""
        if path == DEV_NULL:
            return
        if any(path.startswith(root + "/") for root in WRITABLE_ROOTS):
            return
        if path == "/system" or path.startswith("/system/"):
            raise FsError("Read-only file system")
        raise FsError("Permission denied")

    def _require_parent_dir(self, path: str) -> None:
        parent = self.node(self.parent(path))
        if parent is None:
            raise FsError("No such file or directory")
        if not parent.is_dir:
            raise FsError("Not a directory")

    def write(self, path: str, data: bytes, append: bool = False) -> None:
        """Create or overwrite (or append to) a regular file."""
        if path == DEV_NULL:
            return
        existing = self.node(path)
        if existing is not None and existing.is_dir:
            raise FsError("Is a directory")
        if existing is None:
            self._require_parent_dir(path)
        self.check_writable(path)
        old = existing.data if (existing is not None and append) else b""
        mode = existing.mode if existing is not None else 0o660
        self.files[path] = FileNode(is_dir=False, data=old + data, mtime_ms=self.state.now_ms, mode=mode)
        self.state.touch()

    def mkdir(self, path: str) -> None:
        if self.node(path) is not None:
            raise FsError("File exists")
        self._require_parent_dir(path)
        self.check_writable(path)
        self.files[path] = FileNode(is_dir=True, mtime_ms=self.state.now_ms, mode=0o771)
        self.state.touch()

    def remove(self, path: str) -> None:
        """Remove ``path`` and everything below it."""
        self.check_writable(path)
        for p in self.subtree(path):
            del self.files[p]
        self.state.touch()

    def touch_file(self, path: str) -> None:
        found = self.node(path)
        if found is None:
            self.write(path, b"")
            return
        self.check_writable(path)
        found.mtime_ms = self.state.now_ms
        self.state.touch()

    def copy_tree(self, src: str, dst: str) -> None:
        """Copy ``src`` (a file or a whole directory) to the new path ``dst``."""
        self._require_parent_dir(dst)
        self.check_writable(dst)
        if dst == src or dst.startswith(src.rstrip("/") + "/"):
            raise FsError("Invalid argument")
        for p in sorted(self.subtree(src)):
            old = self.files[p]
            self.files[dst + p[len(src):]] = FileNode(old.is_dir, old.data, self.state.now_ms, old.mode)
        self.state.touch()


def _segment_regex(seg: list[tuple[str, bool]]) -> Regex | None:
    """A regex for one path segment, or None when it has no unquoted wildcard (or an invalid class).

    RE2 matches it in time linear in the name, however many ``*`` it has.
    """
    if not any(ch in "*?[" and not quoted for ch, quoted in seg):
        return None
    out: list[bytes] = []
    i = 0
    while i < len(seg):
        ch, quoted = seg[i]
        close = -1
        if ch == "[" and not quoted:
            close = next((j for j in range(i + 2, len(seg)) if seg[j] == ("]", False)), -1)
        if quoted or ch not in "*?[" or (ch == "[" and close < 0):
            out.append(escape(ch))
        elif ch == "*":
            out.append(b".*")
        elif ch == "?":
            out.append(b".")
        else:
            inner = "".join(c for c, _ in seg[i + 1:close])
            negate = inner.startswith("!")
            body = (inner[1:] if negate else inner).replace("\\", "\\\\").replace("[", "\\[")
            out.append(b"[" + (b"^" if negate else b"") + to_bytes(body) + b"]")
            i = close
        i += 1
    try:
        return compile_linear(b"".join(out), dot_nl=True)
    except BadRegex:
        return None
