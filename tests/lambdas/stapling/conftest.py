"""Fixtures for the stapling Lambda tests: a clean handler, ``configure`` and ``staple``.

The parent ``conftest`` already clears every ``OCSP_*`` variable and ``TRUSTED_CA_PEM``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.lambdas.support.pki import Issued
from tests.lambdas.support.stapling import Stapler, stapling_env


def _handler() -> Any:
    return importlib.import_module("stapling_handler")


@pytest.fixture(autouse=True)
def _clean_stapling_handler() -> Iterator[None]:
    _handler().reset()
    yield
    _handler().reset()


@pytest.fixture
def handler_module() -> Any:
    return _handler()


@pytest.fixture
def staple(handler_module: Any, capsys: pytest.CaptureFixture[str]) -> Stapler:
    """``staple(event) -> Staple``: the answer (checked to be "" or a DER OCSPResponse)."""
    return Stapler(handler_module, capsys)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, handler_module: Any) -> Callable[..., None]:
    """``configure(responder_url=..., trusted=[...], authorized=None, **OCSP_X=value)``:
    replaces the handler's environment (every OCSP_* not given is unset) and resets it."""

    def apply(
        *,
        responder_url: str | None,
        trusted: list[Issued],
        authorized: Issued | None = None,
        **extra: str | int | float,
    ) -> None:
        for name in list(os.environ):
            if name.startswith("OCSP_") or name == "TRUSTED_CA_PEM":
                monkeypatch.delenv(name)
        env = stapling_env(
            responder_url=responder_url, trusted=trusted, authorized=authorized, extra=extra
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        handler_module.reset()

    return apply
