"""Loopback ports for the test servers."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out by itself (for bind to port 0 and for a client's connect)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default where the file cannot be read; macOS starts higher (49152)


def free_port() -> int:
    """A loopback port that is free now and stays free until a test's server binds it.

    A port from bind(("127.0.0.1", 0)) comes from the kernel's ephemeral range, and in the seconds before a
    subprocess binds it any outgoing connection on the machine (the server's own call to an upstream, a browser)
    may be given the same port as its local end: CI saw `warden serve` fail with EADDRINUSE that way. So the port is
    drawn from below that range, where the kernel never hands ports out by itself, is checked free with a bind, and
    is never handed out twice in one test session.
    """
    low = _ephemeral_low()
    lowest = 20000
    if low - lowest >= 2000:
        rng = random.Random()
        for _ in range(200):
            port = rng.randrange(lowest, low)
            if port in _HANDED_OUT:
                continue
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as s:  # no room below the ephemeral range: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    _HANDED_OUT.add(port)
    return port
