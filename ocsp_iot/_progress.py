"""Progress on stderr: a line for anything that takes more than a second, and a bar for
batches."""

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


class ProgressBar:
    """``ocsp-iot: <label> [#####.....] 3/10 <item>: <state>`` on stderr.

    On a terminal the bar is redrawn in place (``\\r``); otherwise (a log, a pipe) each update
    is one line, so the record stays readable.
    """

    WIDTH = 20

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = max(total, 1)
        try:
            self._tty = sys.stderr.isatty()
        except (OSError, ValueError):
            self._tty = False
        self._drawn = False

    def update(self, done: int, item: str, state: str) -> None:
        filled = self.WIDTH * done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        text = f"ocsp-iot: {self.label} [{bar}] {done}/{self.total} {item}: {state}"
        try:
            if self._tty:
                sys.stderr.write("\r\033[K" + text)
                self._drawn = True
            else:
                sys.stderr.write(text + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # stderr closed: progress is best effort
            pass

    def close(self) -> None:
        if self._drawn:
            try:
                sys.stderr.write("\n")
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
