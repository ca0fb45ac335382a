"""A progress line on stderr for anything that takes more than a second."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

#: Operations shorter than this print nothing.
PROGRESS_AFTER_SECONDS = 1.0


@contextlib.contextmanager
def progress(message: str, *, after: float = PROGRESS_AFTER_SECONDS) -> Iterator[None]:
    """Print ``ocsp-iot: <message> ...`` on stderr if the block is still running ``after``
    seconds from now; print nothing for a quick block."""

    def announce() -> None:
        try:
            sys.stderr.write(f"ocsp-iot: {message} ...\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed: progress is best effort
            pass

    timer = threading.Timer(after, announce)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
