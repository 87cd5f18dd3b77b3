"""The test helper that picks server ports outside the kernel's ephemeral range."""

from __future__ import annotations

import socket

from tests.support.ports import LOWEST, _ephemeral_start, free_port


def test_free_port_is_below_the_ephemeral_range_and_bindable():
    for _ in range(20):
        port = free_port()
        assert LOWEST <= port < _ephemeral_start()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_free_port_skips_a_port_in_use(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        draws = iter([busy, busy, busy + 1 if busy + 1 < _ephemeral_start() else busy - 1])
        monkeypatch.setattr("tests.support.ports.random.randint", lambda low, high: next(draws))
        assert free_port() != busy
