"""The host keys a served device trusts, and the keys waiting for a person to accept them.

``TrustedKeys`` holds a fixed list of keys or an ``adbkey.pub``-format file, reread whenever it changes (a
line appended while the server runs is trusted from the next handshake on; a line removed is no longer).
Trust is only ever proven by a signature of the current token: an offered public key is no secret.

With ``accept_new=True`` an offered key that is not trusted goes to ``KEYS_FILE.pending`` (one line per key,
however often it is offered) and is logged with its fingerprint, as a phone shows "Allow USB debugging?"
with the computer's RSA key fingerprint. A person accepts it with ``gui-grpo sim keys accept KEYS_FILE
FINGERPRINT`` (or by appending the pending line to the keys file). A host still waiting is then sent a
fresh token and must sign it (so knowing someone's public key is never enough); a host that gave up
reconnects and signs.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.adb.auth import (
    BadPublicKey,
    decode_android_pubkey,
    encode_android_pubkey,
    load_trusted_keys,
    public_key_id,
)

log = logging.getLogger(__name__)

MAX_COMMENT = 100
KeyId = tuple[int, int]


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """The key's fingerprint as Android's "Allow USB debugging?" prompt shows it (MD5 of the key blob)."""
    blob = base64.b64decode(encode_android_pubkey(key).split()[0])
    return ":".join(f"{b:02X}" for b in hashlib.md5(blob, usedforsecurity=False).digest())


def _comment(text: str) -> str:
    """The ``user@host`` part of an offered key line: its first line, printable ASCII only, bounded."""
    fields = text.split("\0")[0].split("\n")[0].split(None, 1)
    raw = fields[1] if len(fields) > 1 else ""
    return "".join(ch for ch in raw if ch.isascii() and ch.isprintable())[:MAX_COMMENT].strip() or "unknown"


@dataclass(frozen=True)
class OfferedKey:
    """A public key a host offered (AUTH RSAPUBLICKEY), as one ``adbkey.pub`` line."""

    key: rsa.RSAPublicKey
    comment: str

    @classmethod
    def parse(cls, data: bytes) -> OfferedKey:
        """The key in an AUTH RSAPUBLICKEY payload; ``BadPublicKey`` if it is none."""
        text = data.decode("ascii", errors="replace")
        return cls(decode_android_pubkey(text.split("\0")[0].split("\n")[0]), _comment(text))

    @property
    def line(self) -> str:
        return encode_android_pubkey(self.key, self.comment)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


class TrustedKeys:
    """Keys a served device trusts: ``keys`` given once, or the keys file at ``path`` (reread on change)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, keys: list[rsa.RSAPublicKey] | None = None,
                 accept_new: bool = False) -> None:
        if (path is None) == (keys is None):
            raise ValueError("TrustedKeys needs a keys file or a list of keys, not both")
        if accept_new and path is None:
            raise ValueError("accept_new needs a keys file (pending keys are written beside it)")
        self.path = None if path is None else Path(path)
        self.accept_new = accept_new
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: dict[KeyId, rsa.RSAPublicKey] = {}
        if keys is not None:
            self._keys = {public_key_id(k): k for k in keys}
        else:
            self._load(raise_errors=True)

    @property
    def pending_path(self) -> Path:
        if self.path is None:
            raise ValueError("fixed key lists have no pending file")
        return pending_path(self.path)

    def current(self) -> list[rsa.RSAPublicKey]:
        """The keys trusted now (the file is reread when its size, time or inode changed)."""
        with self._lock:
            if self.path is not None:
                self._load(raise_errors=False)
            return list(self._keys.values())

    def trusts(self, key: rsa.RSAPublicKey) -> bool:
        return public_key_id(key) in {public_key_id(k) for k in self.current()}

    def _load(self, raise_errors: bool) -> None:
        assert self.path is not None
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp == self._stamp:
                return
            keys = load_trusted_keys(self.path)
        except (OSError, BadPublicKey) as e:
            if raise_errors:
                raise
            if self._stamp is not None:  # fail closed: trust nothing until the file is whole again
                log.warning("trusted keys file %s cannot be read (%s); no host is trusted until it is fixed",
                            self.path, e)
            self._stamp, self._keys = None, {}
            return
        self._stamp, self._keys = stamp, {public_key_id(k): k for k in keys}

    def add_pending(self, offered: OfferedKey, peer: str) -> None:
        """Record ``offered`` in the pending file (once per key) and log how a person accepts it."""
        path = self.pending_path
        with self._lock, open(path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.seek(0)
            known = {public_key_id(k) for k in _keys_in(f.read())}
            new = public_key_id(offered.key) not in known
            if new:
                f.write(offered.line + "\n")
        level = logging.WARNING if new else logging.INFO
        log.log(level, "ADB host %s (%s) offered key %s: pending in %s, not trusted until a person "
                "accepts it with `gui-grpo sim keys accept %s %s` (or appends its line to %s); the host must "
                "then sign", peer, offered.comment, offered.fingerprint, path, self.path,
                offered.fingerprint, self.path)


def pending_path(keys_file: str | os.PathLike[str]) -> Path:
    """Where keys offered to a server with ``keys_file`` wait for a person: ``KEYS_FILE.pending``."""
    return Path(f"{keys_file}.pending")


def _keys_in(text: str) -> list[rsa.RSAPublicKey]:
    keys = []
    for line in text.splitlines():
        try:
            keys.append(decode_android_pubkey(line))
        except BadPublicKey:
            continue
    return keys


def _normalise(fp: str) -> str:
    return fp.replace(":", "").strip().upper()


def pending_keys(keys_file: str | os.PathLike[str]) -> list[OfferedKey]:
    """The keys waiting in ``KEYS_FILE.pending`` (none when there is no such file)."""
    try:
        lines = pending_path(keys_file).read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(OfferedKey(decode_android_pubkey(line), _comment(line)))
        except BadPublicKey:
            continue
    return out


def accept_pending(keys_file: str | os.PathLike[str], fp: str) -> OfferedKey:
    """Move the pending key with fingerprint ``fp`` (colons and case optional) into ``keys_file``.

    Raises ``LookupError`` when no pending key has that fingerprint.
    """
    path = pending_path(keys_file)
    if not path.exists():
        raise LookupError(f"no keys are pending in {path}")
    with open(path, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        offered = [OfferedKey(k, _comment(line)) for line in f.read().splitlines() for k in _keys_in(line)]
        match = [o for o in offered if _normalise(o.fingerprint) == _normalise(fp)]
        if not match:
            known = ", ".join(o.fingerprint for o in offered) or "none"
            raise LookupError(f"no pending key has fingerprint {fp[:60]!r} (pending: {known})")
        _append_line(Path(keys_file), match[0].line)
        f.seek(0)
        f.truncate()
        f.write("".join(o.line + "\n" for o in offered if o is not match[0]))
    return match[0]


def _append_line(path: Path, line: str) -> None:
    """Append ``line`` to ``path``, starting a new line if the file does not end with one."""
    with open(path, "ab+") as f:
        size = f.seek(0, os.SEEK_END)
        prefix = b""
        if size:
            f.seek(size - 1)
            prefix = b"" if f.read(1) == b"\n" else b"\n"
        f.write(prefix + line.encode() + b"\n")  # append mode: always at the end
