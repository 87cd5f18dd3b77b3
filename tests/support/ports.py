"""A free TCP port on 127.0.0.1 for a server a test starts.

Binding port 0 and closing the socket leaves a race: the port is free again until the server binds it
seconds later, and the kernel hands ports of its ephemeral range to outgoing connections (HTTP, Redis,
PostgreSQL clients of every test on the machine) in between. So the port is drawn at random from below
that range, where no outgoing connection lands, and checked free by binding it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20_000


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port(attempts: int = 50) -> int:
    highest = _ephemeral_start() - 1
    for _ in range(attempts):
        port = random.randint(LOWEST, highest)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in [{LOWEST}, {highest}] after {attempts} attempts")
