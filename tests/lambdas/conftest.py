"""Fixtures for the Lambda tests: the test PKI, a clean handler (``lambda_src`` is on the path
through pytest's ``pythonpath``)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lambdas.support.forge import answer_with, build_answer
from tests.lambdas.support.harness import Invoker, settings_env
from tests.lambdas.support.loopback import LoopbackServer, untrusted_tls_context
from tests.lambdas.support.pki import Issued, Pki, build_pki

#: Environment variables the handler reads besides ``OCSP_*``.
_OTHER_HANDLER_ENV = ("TRUSTED_CA_PEM", "AWS_LAMBDA_FUNCTION_NAME")


@pytest.fixture(scope="session")
def pki() -> Pki:
    """One PKI for the whole session (keys are fresh per run)."""
    return build_pki()


def _reset_handler() -> None:
    importlib.import_module("preauth_handler").reset()


@pytest.fixture(autouse=True)
def _clean_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with no OCSP_* settings and an empty handler cache, and leaves none."""
    for name in list(os.environ):
        if name.startswith("OCSP_") or name in _OTHER_HANDLER_ENV:
            monkeypatch.delenv(name)
    _reset_handler()
    yield
    _reset_handler()


@pytest.fixture(scope="module")
def good_server(pki: Pki) -> Iterator[LoopbackServer]:
    """A loopback responder that answers every request ``good``, signed by ``issuing_ca``."""
    with LoopbackServer(answer_with(lambda r: build_answer(r, signer=pki.issuing_ca))) as server:
        yield server


@pytest.fixture(scope="module")
def good_device(pki: Pki, good_server: LoopbackServer) -> Issued:
    """A device of ``issuing_ca`` whose AIA names ``good_server``."""
    return pki.issue_device(ocsp_url=good_server.url)


@pytest.fixture
def handler_module() -> Any:
    """The pre-auth handler module (the project ships it: a failing import fails the test)."""
    return importlib.import_module("preauth_handler")


@pytest.fixture
def invoke(handler_module: Any, capsys: pytest.CaptureFixture[str]) -> Invoker:
    """``invoke(event) -> Outcome``: the answer (checked to be one of the two dicts) and log."""
    return Invoker(handler_module, capsys)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, handler_module: Any) -> Callable[..., None]:
    """``configure(trusted=[...], allowed=[...], responder_url=None, **OCSP_X=value)``.

    Replaces the handler's environment (every OCSP_* not given is unset) and resets it.
    """

    def apply(
        *,
        trusted: list[Issued],
        allowed: list[str] | tuple[str, ...] = (),
        responder_url: str | None = None,
        **extra: str | int | float,
    ) -> None:
        for name in list(os.environ):
            if name.startswith("OCSP_") or name in _OTHER_HANDLER_ENV:
                monkeypatch.delenv(name)
        env = settings_env(
            trusted=trusted, allowed=allowed, responder_url=responder_url, extra=extra
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        handler_module.reset()

    return apply


@pytest.fixture
def tls_server(pki: Pki, tmp_path: Path) -> Iterator[LoopbackServer]:
    """An https responder whose certificate no public CA bundle trusts."""
    with LoopbackServer(tls=untrusted_tls_context(pki, tmp_path)) as server:
        server.behaviour = answer_with(lambda r: build_answer(r, signer=pki.issuing_ca))
        yield server
