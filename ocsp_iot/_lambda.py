"""The single place where ``ocsp_iot`` reaches the Lambda code: the very same
``preauth_handler`` and ``ocsp_core`` the deployed functions run.

The code is found without importing ``ocsp_iot_constructs`` (that imports ``aws_cdk``, which
starts a jsii Node process: far too slow for a command). ``importlib.util.find_spec`` names the
package's folder without executing it; an installed wheel carries the Lambda code as
``ocsp_iot_constructs/_lambda_src`` (hatch ``force-include``), a checkout (or an editable
install) as the top-level ``lambda_src/``. This mirrors ``ocsp_iot_constructs._assets``; a test
asserts both find the same folder. The folder is put on ``sys.path`` (the Lambda code imports
its packages as top-level modules, as Lambda does) when this module is imported.

The pre-auth handler reads ``os.environ`` once and keeps the settings, its answer cache and its
HTTP client until ``reset()``. :class:`PreauthEnvironment` owns that: it applies one environment
for as long as it is entered (one owner per process at a time) and resets the handler on entry
and exit. :func:`call_preauth` invokes the handler and reads the decision line it writes to
stdout (its documented log line), so callers learn the reason, not only the answer.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Protocol, cast

#: A file every copy of the Lambda code has (the same marker ``ocsp_iot_constructs._assets``
#: looks for).
MARKER_FILE = "ocsp_core/__init__.py"
_CONSTRUCTS_PACKAGE = "ocsp_iot_constructs"


def _candidates() -> list[Path]:
    found: list[Path] = []
    spec = importlib.util.find_spec(_CONSTRUCTS_PACKAGE)  # locates, never executes
    if spec is not None and spec.submodule_search_locations:
        package_dir = Path(next(iter(spec.submodule_search_locations))).resolve()
        found += [package_dir / "_lambda_src", package_dir.parent / "lambda_src"]
    found.append(Path(__file__).resolve().parent.parent / "lambda_src")  # checkout fallback
    return found


def lambda_source_dir() -> Path:
    """The folder holding the Lambda code (``preauth_handler.py``, ``ocsp_core/``, ...).

    :raises FileNotFoundError: when no copy exists (a broken installation).
    """
    candidates = _candidates()
    for candidate in candidates:
        if (candidate / MARKER_FILE).is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    msg = f"the Lambda code was not found (searched: {searched}); reinstall ocsp-iot-constructs"
    raise FileNotFoundError(msg)


def _ensure_importable() -> Path:
    folder = lambda_source_dir()
    resolved = {Path(entry).resolve() for entry in sys.path if entry}
    if folder not in resolved:
        sys.path.insert(0, str(folder))
    return folder


LAMBDA_SOURCE_DIR = _ensure_importable()

# The Lambda's own core, re-exported for the rest of ``ocsp_iot`` (imported after the path fix).
from ocsp_core.certid import HASHES, CertId, HashName, issuer_key_hash  # noqa: E402
from ocsp_core.ocsp import Answer, build_request, responder_key_hash, verify_response  # noqa: E402
from ocsp_core.reasons import Rejection  # noqa: E402
from ocsp_core.settings import ConfigError, normalize_url  # noqa: E402
from preauth.device import device_usage_problem  # noqa: E402
from shared_cache.keys import (  # noqa: E402
    DENY_PREFIX,
    PARTITION_KEY,
    TTL_ATTRIBUTE,
    deny_key,
    parse_serial,
    serial_hex,
)

__all__ = [
    "DENY_PREFIX",
    "HASHES",
    "LAMBDA_SOURCE_DIR",
    "PARTITION_KEY",
    "TTL_ATTRIBUTE",
    "Answer",
    "CertId",
    "ConfigError",
    "HashName",
    "LambdaContext",
    "PreauthEnvironment",
    "PreauthResult",
    "Rejection",
    "StaplingFunction",
    "build_request",
    "call_preauth",
    "check_preauth_environment",
    "deny_key",
    "device_usage_problem",
    "issuer_key_hash",
    "lambda_source_dir",
    "normalize_url",
    "parse_serial",
    "responder_key_hash",
    "serial_hex",
    "verify_response",
]


class _PreauthModule(Protocol):
    def handler(self, event: object, context: object) -> dict[str, bool]: ...
    def reset(self) -> None: ...


def preauth_module() -> _PreauthModule:
    """The ``preauth_handler`` module (imported on first use: it brings ``requests``)."""
    return cast(_PreauthModule, importlib.import_module("preauth_handler"))


def check_preauth_environment(env: Mapping[str, str]) -> None:
    """Read ``env`` as the pre-auth handler would; raise its ``ConfigError`` (every problem
    listed) when the handler would deny every connection with ``CONFIG_ERROR``."""
    settings: ModuleType = importlib.import_module("preauth.settings")
    settings.load_settings(env)


#: Variables the pre-auth handler reads besides those named ``OCSP_*``.
_HANDLER_VARIABLES = ("TRUSTED_CA_PEM", "AWS_LAMBDA_FUNCTION_NAME")
_OWNER_LOCK = threading.Lock()
#: One handler invocation at a time: the process holds one warm "execution environment".
_CALL_LOCK = threading.Lock()


def _managed(name: str) -> bool:
    return name.startswith("OCSP_") or name in _HANDLER_VARIABLES


class PreauthEnvironment:
    """Apply the pre-auth handler's environment for as long as this is entered.

    On entry every ``OCSP_*``, ``TRUSTED_CA_PEM`` and ``AWS_LAMBDA_FUNCTION_NAME`` variable is
    replaced by ``env`` (a variable ``env`` does not name is unset), and the handler is reset, so
    its next invocation reads exactly ``env``; on exit the previous values come back and the
    handler is reset again. Only one may be entered per process at a time (the handler module
    is a process-wide singleton): a second entry raises ``RuntimeError``.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        unknown = [name for name in env if not _managed(name)]
        if unknown:
            msg = (
                f"not a pre-auth handler setting: {', '.join(sorted(unknown))} (its settings are "
                f"OCSP_* and {', '.join(_HANDLER_VARIABLES)})"
            )
            raise ValueError(msg)
        self.env = dict(env)
        self._saved: dict[str, str] | None = None

    def __enter__(self) -> PreauthEnvironment:
        if not _OWNER_LOCK.acquire(blocking=False):
            msg = "another user of the pre-auth handler is active in this process"
            raise RuntimeError(msg)
        try:
            self._saved = {name: value for name, value in os.environ.items() if _managed(name)}
            for name in self._saved:
                del os.environ[name]
            os.environ.update(self.env)
            preauth_module().reset()
        except BaseException:
            self._restore()
            raise
        return self

    def _restore(self) -> None:
        try:
            for name in [n for n in os.environ if _managed(n)]:
                del os.environ[name]
            os.environ.update(self._saved or {})
            self._saved = None
            preauth_module().reset()
        finally:
            _OWNER_LOCK.release()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._restore()


@dataclass
class LambdaContext:
    """The parts of a Lambda context object the handlers read."""

    function_name: str = "ocsp-iot-local"
    #: The construct's default function timeout.
    timeout_seconds: float = 4.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        left = self.timeout_seconds - (time.monotonic() - self.started)
        return max(0, int(left * 1000))


@dataclass(frozen=True)
class PreauthResult:
    """One handler invocation: its answer and the decision line it logged (``record``)."""

    allowed: bool
    #: The decision line as a dict (``verdict``, ``reason``, ``detail``, ``cacheHit``, ...);
    #: ``None`` if the handler wrote none (it always should).
    record: Mapping[str, Any] | None
    seconds: float

    @property
    def reason(self) -> str | None:
        value = None if self.record is None else self.record.get("reason")
        return value if isinstance(value, str) else None

    @property
    def detail(self) -> str:
        value = None if self.record is None else self.record.get("detail")
        return value if isinstance(value, str) else ""


def _decision_line(text: str, key: str = "verdict") -> tuple[Mapping[str, Any] | None, str]:
    """The handler's decision record (the JSON line with ``key``) and whatever else was
    written (passed through)."""
    record: Mapping[str, Any] | None = None
    other: list[str] = []
    for line in text.splitlines(keepends=True):
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        if record is None and isinstance(parsed, dict) and key in parsed:
            record = parsed
        else:
            other.append(line)
    return record, "".join(other)


@contextlib.contextmanager
def _captured_stdout() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


def call_preauth(event: Mapping[str, Any], context: LambdaContext | None = None) -> PreauthResult:
    """Invoke ``preauth_handler.handler`` once (invocations are serialized) and read its
    decision line; any other output it writes goes on to the real stdout."""
    module = preauth_module()
    with _CALL_LOCK:
        started = time.monotonic()
        with _captured_stdout() as out:
            answer = module.handler(dict(event), context or LambdaContext())
        seconds = time.monotonic() - started
    record, other = _decision_line(out.getvalue())
    if other:
        sys.stdout.write(other)
    return PreauthResult(
        allowed=answer.get("isAuthenticated") is True, record=record, seconds=seconds
    )


class _StaplingModule(Protocol):
    def handler(self, event: object, context: object) -> str: ...
    def reset(self) -> None: ...


def stapling_module() -> _StaplingModule:
    """The ``stapling_handler`` module (imported on first use)."""
    return cast(_StaplingModule, importlib.import_module("stapling_handler"))


class _StaplingOwner:
    """Which :class:`StaplingFunction` the stapling handler's module state belongs to."""

    current: StaplingFunction | None = None


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """The handler variables of the process replaced by ``env`` for the block (the caller holds
    ``_CALL_LOCK``, so no pre-auth invocation reads them meanwhile)."""
    saved = {name: value for name, value in os.environ.items() if _managed(name)}
    try:
        for name in saved:
            del os.environ[name]
        os.environ.update(env)
        yield
    finally:
        for name in [n for n in os.environ if _managed(n)]:
            del os.environ[name]
        os.environ.update(saved)


class StaplingFunction:
    """The stapling Lambda's ``stapling_handler.handler`` as a staple source (base64 DER request
    in, base64 DER response or ``""`` out: ``ocsp_iot.local.staple.StapleSource``), with the
    environment the construct gives that function (``OCSP_RESPONDER_URL``, ``TRUSTED_CA_PEM``,
    ...: docs/stapling-domain-config.md).

    The pre-auth handler and this one read the same variable names from one process
    environment, so each invocation runs under the pre-auth handler's lock with the process's
    handler variables swapped for ``env``; the handler's settings, cache and HTTP client are its
    own and are kept between invocations (as in one warm Lambda environment) until another
    ``StaplingFunction`` is invoked or :meth:`close`.

    :raises ValueError: ``env`` names a variable that is not a handler setting.
    :raises ConfigError: the handler would refuse ``env`` (every problem listed).
    """

    def __init__(self, env: Mapping[str, str], *, timeout_seconds: float = 4.0) -> None:
        unknown = [name for name in env if not _managed(name)]
        if unknown:
            msg = f"not a stapling handler setting: {', '.join(sorted(unknown))}"
            raise ValueError(msg)
        settings: ModuleType = importlib.import_module("stapling.settings")
        settings.load_settings(env)
        self.env = dict(env)
        self.timeout_seconds = timeout_seconds
        #: The log line of the last invocation (``outcome``, ``reason``, ``detail``, ...).
        self.last_record: Mapping[str, Any] | None = None
        self.invocations = 0

    def __call__(self, request_b64: str) -> str:
        module = stapling_module()
        with _CALL_LOCK, _environment(self.env):
            if _StaplingOwner.current is not self:
                module.reset()  # reads this environment on the invocation below
                _StaplingOwner.current = self
            with _captured_stdout() as out:
                answer = module.handler(
                    request_b64,
                    LambdaContext(
                        function_name="ocsp-iot-local-stapling",
                        timeout_seconds=self.timeout_seconds,
                    ),
                )
            self.invocations += 1
        record, other = _decision_line(out.getvalue(), key="outcome")
        self.last_record = record
        if other:
            sys.stdout.write(other)
        return answer

    def close(self) -> None:
        """Drop the handler's state if it is this function's."""
        with _CALL_LOCK:
            if _StaplingOwner.current is self:
                stapling_module().reset()
                _StaplingOwner.current = None
