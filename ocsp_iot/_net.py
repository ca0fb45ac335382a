"""Waiting on non-blocking sockets with a deadline (shared by the endpoint and the probe)."""

from __future__ import annotations

import select
import socket
import time


def wait_for(sock: socket.socket, events: int, deadline: float) -> None:
    """Wait for ``events`` (``select.POLLIN``/``POLLOUT``) on ``sock`` until the monotonic
    ``deadline``; raise ``TimeoutError`` then. ``poll``, not ``select``: no FD_SETSIZE limit
    with hundreds of sockets."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    poller = select.poll()
    poller.register(sock, events)
    if not poller.poll(left * 1000):
        raise TimeoutError
