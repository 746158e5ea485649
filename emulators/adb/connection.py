"""One ADB connection on the device side: handshake, optional RSA auth, and the stream table.

The reader thread owns the socket's input. Each stream's worker thread writes its output as WRTE chunks of
at most the negotiated ``maxdata`` and waits for the host's OKAY after each one (flow control). The host must
do the same: a second WRTE on a stream before we acknowledged the first drops the connection, so host data
buffered per stream is one payload at most. A send the host does not take within ``io_timeout_s`` drops it
too. Streams past ``limits.max_streams`` are refused with CLSE; the server (``AdbServer``) enforces the
handshake deadline.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable

from emulators.adb.auth import BadPublicKey, verify_token_signature
from emulators.adb.keys import OfferedKey
from emulators.adb.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_WRTE,
    AUTH_RSAPUBLICKEY,
    AUTH_SIGNATURE,
    AUTH_TOKEN,
    MAX_PAYLOAD,
    VERSION_MIN,
    VERSION_SKIP_CHECKSUM,
    ConnectionClosed,
    Message,
    ProtocolError,
    checksum,
    read_message,
)
from emulators.adb.services import open_service
from emulators.adb.stream import ServerConfig, Stream
from emulators.device import AndroidDevice

log = logging.getLogger(__name__)

MAX_AUTH_ATTEMPTS = 10


class Connection:
    """A host connection to one served device."""

    def __init__(self, sock: socket.socket, device: AndroidDevice, device_lock: threading.Lock,
                 config: ServerConfig,
                 on_close: Callable[[Connection], None]) -> None:
        self.sock = sock
        self.device = device
        self.device_lock = device_lock
        self.config = config
        self.version = config.version
        self.maxdata = config.maxdata
        self._on_close = on_close
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._streams_lock = threading.Lock()
        self._next_id = 1
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self.accepted_at = time.monotonic()
        self.online = False  # CNXN sent: the handshake deadline no longer applies
        try:
            host, port = sock.getpeername()[:2]
            self.peer = f"{host}:{port}"
        except OSError:
            self.peer = "unknown host"
        self._thread = threading.Thread(target=self._run, daemon=True, name="adb-conn")

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def close(self) -> None:
        with self._close_lock:
            if self._closed.is_set():
                return
            self._closed.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._streams_lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for stream in streams:
            stream.on_host_close()
        self._on_close(self)

    def send(self, msg: Message) -> None:
        data = msg.pack()
        faults = self.config.faults
        cut = False
        with self._send_lock:
            if self._closed.is_set():
                return
            if faults is not None:
                time.sleep(faults.delay())  # under the lock, so later messages cannot overtake this one
                cut = msg.command == A_WRTE and faults.drop()
            try:
                self.sock.sendall(data[:len(data) // 2] if cut else data)
            except OSError:
                cut = True
        if cut:
            threading.Thread(target=self.close, daemon=True).start()

    def forget_stream(self, dev_id: int) -> bool:
        with self._streams_lock:
            return self._streams.pop(dev_id, None) is not None

    def _run(self) -> None:
        try:
            self.sock.settimeout(self.config.io_timeout_s)  # a silent host must not hold a thread forever
            if self._handshake():
                self.sock.settimeout(None)  # an idle host may stay; one that stops reading may not:
                seconds = max(1, int(self.config.io_timeout_s))
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, 0))
                self._serve()
        except ProtocolError as e:
            log.info("dropped ADB host %s: %s", self.peer, e)
        except (ConnectionClosed, OSError) as e:
            log.debug("adb connection ends: %s", e)
        finally:
            self.close()

    # -- handshake -----------------------------------------------------------------------------------
    def _read(self) -> Message:
        verify = self.version < VERSION_SKIP_CHECKSUM
        return read_message(self.sock, max(self.maxdata, 4096), verify_checksum=verify)

    def _handshake(self) -> bool:
        """Negotiate version and maxdata from the host's CNXN; run auth when keys are required."""
        while True:
            msg = read_message(self.sock, MAX_PAYLOAD, verify_checksum=False)
            if msg.command == A_CNXN:
                break  # anything before CNXN is ignored, as adbd does before the transport is online
        if msg.arg0 < VERSION_MIN:
            raise ProtocolError(f"host protocol version {msg.arg0:#x} is too old")
        self.version = min(msg.arg0, self.config.version)
        self.maxdata = max(256, min(msg.arg1, self.config.maxdata))
        if self.version < VERSION_SKIP_CHECKSUM and checksum(msg.data) != msg.received_checksum:
            raise ProtocolError("CNXN checksum does not match its payload")
        if self.config.trusted_keys is not None and not self._authenticate():
            return False
        self.online = True
        self.send(Message(A_CNXN, self.version, self.maxdata, self.config.banner))
        return True

    def handshake_expired(self, now: float) -> bool:
        """Whether the host has not completed the handshake within ``limits.handshake_timeout_s``."""
        return not self.online and now - self.accepted_at > self.config.limits.handshake_timeout_s

    def _authenticate(self) -> bool:
        """Only a signature of the current token by a trusted key lets the host in; a new token after each
        wrong one, as adbd does. An offered public key proves nothing: it is refused, or (``accept_new``)
        put on the pending list; once a person accepts it the host gets a fresh token and must sign it, so a
        host that merely knows someone's public key never gets in."""
        keys = self.config.trusted_keys
        assert keys is not None
        for _ in range(MAX_AUTH_ATTEMPTS):
            token = os.urandom(20)
            self.send(Message(A_AUTH, AUTH_TOKEN, 0, token))
            msg = self._read()
            while msg.command != A_AUTH:
                msg = self._read()
            if msg.arg0 == AUTH_SIGNATURE:
                if any(verify_token_signature(k, token, msg.data) for k in keys.current()):
                    return True
            elif msg.arg0 == AUTH_RSAPUBLICKEY:
                if not self._key_offered(msg.data):
                    return False
        return False

    def _key_offered(self, data: bytes) -> bool:
        """True once the offered key is accepted (the host is then asked to sign); False: refuse it."""
        keys = self.config.trusted_keys
        assert keys is not None
        try:
            offered = OfferedKey.parse(data)
        except BadPublicKey as e:
            log.info("ADB host %s offered a malformed public key: %s", self.peer, e)
            return False
        if keys.trusts(offered.key):
            log.info("refused ADB host %s: it offered trusted key %s without signing the token (a public key "
                     "is no proof)", self.peer, offered.fingerprint)
            return False
        if not keys.accept_new:
            log.info("refused ADB host %s: key %s (%s) is not trusted (`sim serve --accept-new-keys pending` "
                     "would put it on a pending list)", self.peer, offered.fingerprint, offered.comment)
            return False
        keys.add_pending(offered, self.peer)
        while not self._closed.wait(0.2):  # until accepted, the host leaves, or the handshake deadline
            if self._peer_left():
                return False
            if keys.trusts(offered.key):
                log.info("key %s accepted; asking %s to sign a new token", offered.fingerprint, self.peer)
                return True
        return False

    def _peer_left(self) -> bool:
        """Whether the host closed its end (nothing is consumed; never blocks)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            return bool(readable) and self.sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # -- streams -------------------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._closed.is_set():
            msg = self._read()
            if msg.command == A_OPEN:
                self._open(msg)
            elif msg.command in (A_OKAY, A_WRTE, A_CLSE):
                with self._streams_lock:
                    stream = self._streams.get(msg.arg1)
                if stream is None:
                    if msg.command == A_WRTE:
                        self.send(Message(A_CLSE, 0, msg.arg0))
                    continue
                if msg.command == A_OKAY:
                    stream.on_okay()
                elif msg.command == A_WRTE and stream.discard_input:
                    self.send(Message(A_OKAY, stream.dev_id, stream.host_id))
                elif msg.command == A_WRTE:
                    if stream.unread_input():
                        raise ProtocolError(f"wrote to stream {stream.dev_id} again before its OKAY "
                                            "(flow control)")
                    stream.inbox.put(msg.data)
                else:
                    self.forget_stream(stream.dev_id)
                    if not stream.closed:
                        self.send(Message(A_CLSE, stream.dev_id, stream.host_id))
                    stream.on_host_close()

    def _open(self, msg: Message) -> None:
        destination = msg.data.rstrip(b"\0").decode("utf-8", errors="surrogateescape")
        with self._streams_lock:
            if len(self._streams) >= self.config.limits.max_streams:
                log.info("ADB host %s has %d streams open (the limit): refused %r", self.peer,
                         len(self._streams), destination[:80])
                self.send(Message(A_CLSE, 0, msg.arg0))
                return
            dev_id = self._next_id
            self._next_id += 1
            stream = Stream(self, dev_id, msg.arg0)
        service = open_service(destination, stream, self.device, self.device_lock)
        if service is None:
            self.send(Message(A_CLSE, 0, msg.arg0))
            return
        with self._streams_lock:
            self._streams[dev_id] = stream
        self.send(Message(A_OKAY, dev_id, msg.arg0))
        threading.Thread(target=service, daemon=True, name=f"adb-stream-{dev_id}").start()
