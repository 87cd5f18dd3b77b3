"""Durable prediction spool: JSON lines appended to rotated segment files.

Each request's records go out in one ``os.write`` on an ``O_APPEND`` descriptor before the response is
sent. The kernel keeps written data when the process dies (even by SIGKILL), so every answered
prediction is in the spool; no fsync per request (that would cost milliseconds).

Segment names carry the writer's host and pid so the loader can tell finished segments from the one
still being written. On the writer's own host a dead pid means finished. A writer on another host (a
KServe pod writing to a shared volume) touches its current segment every ``HEARTBEAT_SECONDS``, even
when idle; its segments count as finished once the newest has not been touched for
``WRITER_GONE_SECONDS``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import NamedTuple

SEGMENT_SUFFIX = ".jsonl"
DEFAULT_SEGMENT_BYTES = 64 << 20
HEARTBEAT_SECONDS = 30.0
WRITER_GONE_SECONDS = 300.0


class SegmentName(NamedTuple):
    started_ns: int
    pid: int
    sequence: int
    host: str

    def writer(self) -> tuple[int, str, int]:
        return self.started_ns, self.host, self.pid


def segment_name(started_ns: int, pid: int, sequence: int, host: str | None = None) -> str:
    return f"{started_ns:020d}-{pid}-{sequence:06d}-{host or socket.gethostname()}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> SegmentName | None:
    """The parts of a segment file name, or None for other files."""
    if not name.endswith(SEGMENT_SUFFIX):
        return None
    parts = name.removesuffix(SEGMENT_SUFFIX).split("-", 3)
    if len(parts) != 4 or not all(part.isdigit() for part in parts[:3]) or not parts[3]:
        return None
    return SegmentName(int(parts[0]), int(parts[1]), int(parts[2]), parts[3])


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie, exited but not reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def writer_gone(segment: SegmentName, newest_touch: float) -> bool:
    """Whether the writer of ``segment`` will not write again (``newest_touch``: its newest mtime)."""
    if segment.host == socket.gethostname():
        return not process_alive(segment.pid)
    return time.time() - newest_touch > WRITER_GONE_SECONDS


class SpoolWriter:
    """Appends newline-terminated records; rotates to a new segment after ``max_segment_bytes``."""

    def __init__(
        self,
        directory: Path,
        max_segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ):
        self.directory = directory
        self.max_segment_bytes = max_segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._started_ns = time.time_ns()
        self._sequence = -1
        self._fd = -1
        self._written = 0
        self._open_next()
        self._stopped = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, args=(heartbeat_seconds,), daemon=True)
        self._heartbeat.start()

    @property
    def path(self) -> Path:
        """The segment being written."""
        return self._path

    def _open_next(self) -> None:
        self._sequence += 1
        self._path = self.directory / segment_name(self._started_ns, os.getpid(), self._sequence)
        fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self._written = 0

    def _beat(self, interval: float) -> None:
        while not self._stopped.wait(interval):
            try:
                os.utime(self._path)
            except FileNotFoundError:  # rotated meanwhile and already loaded; the next beat finds the new one
                pass

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a regular-file append is complete in practice; loop in case it is not
            written = os.write(self._fd, view)
            view = view[written:]
        self._written += len(data)
        if self._written >= self.max_segment_bytes:
            self._open_next()

    def close(self) -> None:
        self._stopped.set()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def server_prediction_id(prefix: int, counter: int) -> uuid.UUID:
    """The id the model server gives its ``counter``-th prediction: its random 64-bit ``prefix`` in the high
    half, the counter in the low half (cheap, unique per process, and the same value the migration gives
    the server's older ``<prefix hex>-<counter hex>`` text ids)."""
    return uuid.UUID(int=(prefix << 64) | counter)
