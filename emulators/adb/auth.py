"""ADB RSA keys: the Android public-key format, signature checks for the server, key files for clients.

A host proves itself by signing a 20-byte token with RSA PKCS#1 v1.5, treating the token as an already
computed SHA-1 digest. Public keys travel as ``base64(<LL256s256sL>) user@host``: words, n0inv, modulus
(little-endian), R^2 (little-endian), exponent. ``adbkey.pub`` files hold one such line per key.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import os
import struct
import tempfile
import threading
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

ANDROID_PUBKEY = struct.Struct("<LL256s256sL")
MODULUS_WORDS = 64


class BadPublicKey(ValueError):
    """Text that is not an ADB public key."""


def decode_android_pubkey(text: str | bytes) -> rsa.RSAPublicKey:
    """The RSA key in one ``adbkey.pub`` line (a trailing ``user@host`` comment and NULs are ignored)."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    fields = text.strip("\0 \r\n").split()
    if not fields:
        raise BadPublicKey("empty public key")
    try:
        blob = base64.b64decode(fields[0], validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadPublicKey(f"public key is not base64: {e}") from e
    if len(blob) != ANDROID_PUBKEY.size:
        raise BadPublicKey(f"public key blob has {len(blob)} bytes, expected {ANDROID_PUBKEY.size}")
    words, _n0inv, modulus, _rr, exponent = ANDROID_PUBKEY.unpack(blob)
    if words != MODULUS_WORDS:
        raise BadPublicKey(f"public key has {words} modulus words, expected {MODULUS_WORDS}")
    n = int.from_bytes(modulus, "little")
    try:
        return rsa.RSAPublicNumbers(exponent, n).public_key()
    except ValueError as e:
        raise BadPublicKey(f"public key numbers are invalid: {e}") from e


def encode_android_pubkey(key: rsa.RSAPublicKey, comment: str = "gui-grpo") -> str:
    """One ``adbkey.pub`` line for ``key`` (a 2048-bit RSA key)."""
    numbers = key.public_numbers()
    r32 = 1 << 32
    n0inv = r32 - pow(numbers.n % r32, -1, r32)
    rr = pow(1 << 2048, 2, numbers.n)
    blob = ANDROID_PUBKEY.pack(MODULUS_WORDS, n0inv, numbers.n.to_bytes(256, "little"),
                               rr.to_bytes(256, "little"), numbers.e)
    return f"{base64.b64encode(blob).decode()} {comment}"


def public_key_id(key: rsa.RSAPublicKey) -> tuple[int, int]:
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def load_trusted_keys(path: str | os.PathLike[str]) -> list[rsa.RSAPublicKey]:
    """Every key in an ``adbkey.pub``-format file (blank lines and ``#`` comments skipped)."""
    keys = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            keys.append(decode_android_pubkey(line))
        except BadPublicKey as e:
            raise BadPublicKey(f"{path}:{number}: {e}") from e
    return keys


def verify_token_signature(key: rsa.RSAPublicKey, token: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``key``'s PKCS#1 v1.5 signature of ``token`` taken as a SHA-1 digest."""
    try:
        key.verify(signature, token, padding.PKCS1v15(), Prehashed(hashes.SHA1()))
    except (InvalidSignature, ValueError):
        return False
    return True


def default_key_path() -> Path:
    """``~/.android/adbkey`` when it exists, else ``$XDG_CONFIG_HOME/gui-grpo/adbkey``."""
    android = Path.home() / ".android" / "adbkey"
    if android.is_file():
        return android
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "gui-grpo" / "adbkey"


def ensure_key(path: str | os.PathLike[str] | None = None) -> Path:
    """Path of a private key, created with its ``.pub`` on first use (readable by the user only).

    Safe when many threads or processes ask at once on a new machine: one of them generates the pair in a
    temporary directory beside the key, under an exclusive lock file, and renames the ``.pub`` and then the
    private key into place, so a reader sees either no key or a whole one.
    """
    key_path = Path(path) if path is not None else default_key_path()
    if key_path.is_file():
        return key_path
    key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _KEYGEN_LOCK, open(key_path.parent / f".{key_path.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not key_path.is_file():
            _generate_key_pair(key_path)
    return key_path


_KEYGEN_LOCK = threading.Lock()


def _generate_key_pair(key_path: Path) -> None:
    from adb_shell.auth.keygen import keygen

    with tempfile.TemporaryDirectory(dir=key_path.parent, prefix=f".{key_path.name}.") as tmp:
        staged = Path(tmp) / key_path.name
        keygen(str(staged))
        staged.chmod(0o600)
        os.replace(f"{staged}.pub", f"{key_path}.pub")
        os.replace(staged, key_path)
