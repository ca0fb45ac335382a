"""Synth-time validation shared by the constructs.

Every construct collects all problems with its props and raises once, so that a user fixes them in
one round. Each message says what is wrong, what was given and what is allowed (and the fix, when
there is an obvious one), e.g.::

    OcspPrivateCa 'Ca' has 2 invalid props:
      - key_algorithm must be one of EC_prime256v1, RSA_2048, got 'RSA_1024'
      - validity must be between 1 day and 10 years, got 0 days
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aws_cdk as cdk
from constructs import IConstruct

#: Prefix of every warning id this library adds (``Annotations.add_warning_v2``).
WARNING_PREFIX = "ocsp-iot"


class PropsError(ValueError):
    """One or more construct props are invalid. ``problems`` lists each one."""

    def __init__(self, construct: str, construct_id: str, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        noun = "prop" if len(self.problems) == 1 else "props"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{construct} '{construct_id}' has {len(self.problems)} invalid {noun}:\n{lines}"
        )


class Problems:
    """Collects prop problems; ``raise_if_any`` raises a single :class:`PropsError`."""

    def __init__(self, construct: str, construct_id: str) -> None:
        self._construct = construct
        self._construct_id = construct_id
        self._problems: list[str] = []

    def add(self, keyword: str, allowed: str, got: Any, fix: str | None = None) -> None:
        """Record ``<keyword> must be <allowed>, got <got!r>[; <fix>]``."""
        message = f"{keyword} must be {allowed}, got {got!r}"
        if fix:
            message += f"; {fix}"
        self._problems.append(message)

    def require(
        self, ok: bool, keyword: str, allowed: str, got: Any, fix: str | None = None
    ) -> None:
        """Record a problem unless ``ok``."""
        if not ok:
            self.add(keyword, allowed, got, fix)

    def add_message(self, message: str) -> None:
        """Record a free-form problem (for rules spanning several props)."""
        self._problems.append(message)

    def __bool__(self) -> bool:
        return bool(self._problems)

    def raise_if_any(self) -> None:
        if self._problems:
            raise PropsError(self._construct, self._construct_id, self._problems)


def is_token(value: Any) -> bool:
    """True when ``value`` is (or contains) an unresolved CDK token: skip literal checks then."""
    return cdk.Token.is_unresolved(value)


def warn(scope: IConstruct, warning_id: str, message: str) -> None:
    """Add an acknowledgeable warning ``ocsp-iot:<warning_id>`` to ``scope``."""
    cdk.Annotations.of(scope).add_warning_v2(f"{WARNING_PREFIX}:{warning_id}", message)
