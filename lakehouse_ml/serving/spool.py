"""Durable prediction spool: JSON lines appended to rotated segment files.

Each request's records go out in one ``os.write`` on an ``O_APPEND`` descriptor before the response is
sent. The kernel keeps written data when the process dies (even by SIGKILL), so every answered
prediction is in the spool; no fsync per request (that would cost milliseconds). Segment names carry
the writer's pid so the loader can tell finished segments from the one still being written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

SEGMENT_SUFFIX = ".jsonl"
DEFAULT_SEGMENT_BYTES = 64 << 20


def segment_name(started_ns: int, pid: int, sequence: int) -> str:
    return f"{started_ns:020d}-{pid}-{sequence:06d}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> tuple[int, int, int] | None:
    """(started_ns, pid, sequence) of a segment file name, or None for other files."""
    if not name.endswith(SEGMENT_SUFFIX):
        return None
    parts = name.removesuffix(SEGMENT_SUFFIX).split("-")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


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


class SpoolWriter:
    """Appends newline-terminated records; rotates to a new segment after ``max_segment_bytes``."""

    def __init__(self, directory: Path, max_segment_bytes: int = DEFAULT_SEGMENT_BYTES):
        self.directory = directory
        self.max_segment_bytes = max_segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._started_ns = time.time_ns()
        self._sequence = -1
        self._fd = -1
        self._written = 0
        self._open_next()

    def _open_next(self) -> None:
        self._sequence += 1
        path = self.directory / segment_name(self._started_ns, os.getpid(), self._sequence)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self._written = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a regular-file append is complete in practice; loop in case it is not
            written = os.write(self._fd, view)
            view = view[written:]
        self._written += len(data)
        if self._written >= self.max_segment_bytes:
            self._open_next()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
