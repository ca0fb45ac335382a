"""Drive the pre-auth handler through its public contract only.

Set the environment, call ``preauth_handler.reset()``, call ``handler(event, None)``, check that
the answer is exactly one of the two allowed dicts, and read the one JSON decision line it logs.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .pki import Issued

ALLOW = {"isAuthenticated": True}
DENY = {"isAuthenticated": False}
EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"

ChainEntry = Issued | str | bytes


def chain_entry(entry: ChainEntry, *, encoding: str = "pem") -> str:
    """A chain string: PEM (default) or bare base64 DER of a certificate; strings pass through."""
    if isinstance(entry, str):
        return entry
    if isinstance(entry, bytes):
        return entry.decode("ascii", errors="replace")
    if encoding == "der":
        return base64.b64encode(entry.der).decode("ascii")
    return entry.pem.decode("ascii")


def make_event(
    *chain: ChainEntry,
    connection_id: str = "conn-1",
    principal_id: str = "principal-1",
    server_name: str = "iot.example.com",
    encoding: str = "pem",
) -> dict[str, Any]:
    """A pre-auth event as AWS IoT Core documents it (leaf first)."""
    return {
        "connectionMetadata": {"id": connection_id},
        "principalId": principal_id,
        "serverName": server_name,
        "clientCertificateChain": [chain_entry(c, encoding=encoding) for c in chain],
    }


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text())
    return data


@dataclass(frozen=True)
class Outcome:
    answer: dict[str, Any]
    log: dict[str, Any]
    seconds: float

    @property
    def allowed(self) -> bool:
        return self.answer == ALLOW

    @property
    def reason(self) -> str:
        return str(self.log.get("reason"))

    @property
    def verdict(self) -> str:
        return str(self.log.get("verdict"))

    def __repr__(self) -> str:  # short, for assertion messages
        keys = ("verdict", "reason", "cacheHit", "ResponderRequests", "latencyMs")
        return f"Outcome({self.answer}, {{{', '.join(f'{k}={self.log.get(k)!r}' for k in keys)}}})"


class Invoker:
    """Calls the handler and reads its decision: exactly one JSON line on stdout, nothing on
    stderr (the handler writes there only when it cannot write the decision line)."""

    def __init__(self, handler_module: Any, capsys: pytest.CaptureFixture[str]) -> None:
        self.module = handler_module
        self._capsys = capsys

    def reset(self) -> None:
        self.module.reset()

    def raw(self, event: Any, context: Any = None) -> tuple[Any, str, str]:
        """Call the handler; return its answer and what it wrote to stdout and stderr."""
        self._capsys.readouterr()
        answer = self.module.handler(event, context)
        captured = self._capsys.readouterr()
        return answer, captured.out, captured.err

    def __call__(self, event: Any, context: Any = None) -> Outcome:
        started = time.monotonic()
        answer, out, err = self.raw(event, context)
        seconds = time.monotonic() - started
        assert answer in (ALLOW, DENY), f"answer is not one of the two dicts: {answer!r}"
        assert type(answer["isAuthenticated"]) is bool
        lines = out.splitlines()
        assert len(lines) == 1, f"expected one decision line on stdout, got {out!r}"
        assert err == "", err
        log = json.loads(lines[0])
        assert isinstance(log, dict), log
        expected_verdict = "ALLOW" if answer == ALLOW else "DENY"
        assert log["verdict"] == expected_verdict, (answer, log)
        return Outcome(answer=answer, log=log, seconds=seconds)


def pem_bundle(*cas: Issued) -> str:
    return "".join(ca.pem.decode("ascii") for ca in cas)


EnvSetter = Callable[..., None]


def settings_env(
    *,
    trusted: Iterable[Issued],
    allowed: Iterable[str] = (),
    responder_url: str | None = None,
    extra: Mapping[str, str | int | float] | None = None,
) -> dict[str, str]:
    env = {
        "TRUSTED_CA_PEM": pem_bundle(*trusted),
        "OCSP_ALLOWED_URLS": ",".join(allowed),
    }
    if responder_url is not None:
        env["OCSP_RESPONDER_URL"] = responder_url
    for key, value in (extra or {}).items():
        env[key] = str(value)
    return env
