"""Running pip for the Lambda bundle and the wheelhouse: a progress line on stderr while it runs,
and a failure reduced to its one cause.

pip's own output on failure is long (a retry warning per attempt), may carry colour codes, and
says nothing about what to do; :func:`run` keeps it out of sight and raises :class:`PipFailure`
with the cause (``kind`` and a one-line ``detail``), from which the callers write the error the
user sees (with the fix).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

#: Every line the library prints while bundling starts with this.
PREFIX = "ocsp-iot-constructs: "

#: Seconds between two "still running" lines while pip runs.
HEARTBEAT_SECONDS = 15.0
#: The longest pip may run (a cold download of the pinned wheels takes a few seconds).
TIMEOUT_SECONDS = 600.0

FailureKind = Literal["unreachable", "missing", "no-pip", "timeout", "failed"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Signs that pip could not talk to the index at all (urllib3/requests exception names and the
#: usual socket errors).
_CONNECTION = re.compile(
    r"NewConnectionError|ConnectTimeoutError|ReadTimeoutError|ProxyError|SSLError"
    r"|Max retries exceeded|Connection (?:refused|reset)|Name or service not known"
    r"|Temporary failure in name resolution|Network is unreachable|nodename nor servname"
)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_HOST = re.compile(r"host='([^']+)', port=(\d+)")
_FETCH = re.compile(r"Could not fetch URL (\S+): connection error")
_NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")


class PipFailure(Exception):  # noqa: N818 - a failure of pip, not an error of ours
    """pip failed; ``detail`` is one line, free of pip's colour codes and repetitions."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: FailureKind = kind
        self.detail = detail


def say(text: str) -> None:
    """One progress line on stderr (CDK's own output goes there too)."""
    print(f"{PREFIX}{text}", file=sys.stderr, flush=True)


def offline_environment() -> dict[str, str]:
    """The environment of a pip that must use nothing but the wheelhouse it is given: no
    ``PIP_*`` variable and no pip configuration file (an ``extra-index-url`` or ``find-links``
    there would otherwise still take part)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    return environment


def run(
    arguments: Sequence[str],
    *,
    progress: str,
    environment: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> None:
    """Run ``python -m pip <arguments>`` with the running interpreter, printing ``progress``
    first and a line every :data:`HEARTBEAT_SECONDS` while it runs.

    :raises PipFailure: when pip cannot be started, fails or runs longer than ``timeout``.
    """
    # pip's console output stays quiet; its debug log (``--log``) says why it failed, e.g. the
    # connection error that a quiet pip without retries never prints.
    with tempfile.TemporaryDirectory(prefix="ocsp-iot-pip-") as tmp:
        log = Path(tmp) / "pip.log"
        output, returncode = _run([*arguments, "--log", str(log)], progress, environment, timeout)
        if returncode != 0:
            logged = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
            raise classify(f"{output}\n{logged}", returncode)


def _run(
    arguments: Sequence[str],
    progress: str,
    environment: Mapping[str, str] | None,
    timeout: float,
) -> tuple[str, int]:
    command = [sys.executable, "-m", "pip", *arguments]
    say(progress)
    started = time.monotonic()
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(environment) if environment is not None else None,
        )
    except OSError as error:
        raise PipFailure("failed", f"could not run {sys.executable} -m pip: {error}") from None
    with process:
        while True:
            elapsed = time.monotonic() - started
            try:
                output, _ = process.communicate(
                    timeout=max(0.1, min(HEARTBEAT_SECONDS, timeout - elapsed))
                )
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                if elapsed >= timeout:
                    process.kill()
                    process.communicate()
                    detail = f"pip did not finish within {timeout:.0f} s"
                    raise PipFailure("timeout", detail) from None
                say(f"... pip is still running ({elapsed:.0f} s)")
    return output or "", process.returncode


def classify(output: str, returncode: int) -> PipFailure:
    """The cause of a failed pip run, from its combined output."""
    text = _ANSI.sub("", output)
    if "No module named pip" in text:
        return PipFailure("no-pip", f"the interpreter {sys.executable} has no pip")
    if _CONNECTION.search(text):
        return PipFailure("unreachable", _connection_detail(text))
    missing = _NOT_FOUND.search(text)
    if missing:
        return PipFailure("missing", missing.group(1))
    errors = [line.strip() for line in text.splitlines() if line.startswith("ERROR:")]
    lines = errors or [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    return PipFailure("failed", f"pip exited with status {returncode}: {last}")


def _connection_detail(text: str) -> str:
    """``"http://127.0.0.1:9/simple: connection refused"`` or the like."""
    errno = _ERRNO.search(text)
    if errno:
        reason = errno.group(1).strip().rstrip(".")
    elif "SSLError" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        reason = "TLS error (is the index's certificate trusted? see pip's `cert` option)"
    elif "ProxyError" in text:
        reason = "the proxy refused the connection"
    elif "timed out" in text.lower():
        reason = "timed out"
    else:
        reason = "no connection"
    reason = reason[:1].lower() + reason[1:]
    fetched = _FETCH.search(text)
    index = os.environ.get("PIP_INDEX_URL")
    host = _HOST.search(text)
    if fetched:
        where = fetched.group(1)
    elif index:
        where = index
    elif host:
        where = f"{host.group(1)}:{host.group(2)}"
    else:
        where = "the index of pip's configuration (PyPI unless index-url says otherwise)"
    return f"{where}: {reason}"
