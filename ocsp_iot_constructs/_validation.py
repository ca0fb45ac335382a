"""Synth-time validation shared by the constructs.

Every construct collects all problems with its props and raises once, so that a user fixes them in
one round. Each message says what is wrong, what was given and what is allowed (and the fix, when
there is an obvious one), e.g.::

    OcspPrivateCa 'Ca' has 2 invalid props:
      - key_algorithm must be one of EC_prime256v1, RSA_2048, got 'RSA_1024'
      - validity must be between 1 day and 10 years, got 0 days
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any, TypeVar

import aws_cdk as cdk
from constructs import IConstruct

#: Prefix of every warning id this library adds.
WARNING_PREFIX = "ocsp-iot"
#: The namespace CDK gives warnings in its validation report: the id that acknowledges the
#: warning ``ocsp-iot:failOpen`` is ``Annotation::ocsp-iot:failOpen`` (see :func:`warn`).
ACKNOWLEDGEMENT_NAMESPACE = "Annotation"

#: The longest DNS name (RFC 1035), and a name of two or more labels of letters, digits and '-'.
MAX_DNS_NAME_CHARS = 253
_DNS_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
DNS_NAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})+")

_E = TypeVar("_E", bound=enum.Enum)


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

    def __bool__(self) -> bool:
        return bool(self._problems)

    def raise_if_any(self) -> None:
        if self._problems:
            raise PropsError(self._construct, self._construct_id, self._problems)


def is_token(value: Any) -> bool:
    """True when ``value`` is (or contains) an unresolved CDK token: skip literal checks then."""
    return cdk.Token.is_unresolved(value)


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge the finding ``rule_id`` (e.g. a cdk-nag rule) on ``scope``, giving why."""
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def acknowledgement_id(warning_id: str) -> str:
    """``"Annotation::ocsp-iot:failOpen"`` for ``"failOpen"``: the one spelling CDK prints (the
    message's ``[ack: ...]`` and the report's "Acknowledge with '...'") and that acknowledges the
    warning with ``cdk.Validations.of(scope).acknowledge(...)`` on every supported CDK version."""
    return f"{ACKNOWLEDGEMENT_NAMESPACE}::{WARNING_PREFIX}:{warning_id}"


def warn(scope: IConstruct, warning_id: str, message: str) -> None:
    """Add an acknowledgeable warning ``ocsp-iot:<warning_id>`` to ``scope``.

    Through ``Validations.add_warning``, not ``Annotations.add_warning_v2``: the latter's
    message says ``[ack: ocsp-iot:<id>]`` while the validation report says ``Annotation::...``,
    and on aws-cdk-lib 2.269 ``Validations.acknowledge`` silences only the report entry of such a
    warning. With ``Validations.add_warning`` both say :func:`acknowledgement_id`, and that id
    acknowledges both.
    """
    cdk.Validations.of(scope).add_warning(f"{WARNING_PREFIX}:{warning_id}", message)


def shown(value: object) -> object:
    """A readable form of ``value`` for messages (durations, removal policies, enum members)."""
    if isinstance(value, cdk.Duration):
        return value.to_human_string()
    if isinstance(value, cdk.RemovalPolicy):
        return f"RemovalPolicy.{value.name}"
    if isinstance(value, enum.Enum):
        return value.value
    return value


def enum_member(problems: Problems, keyword: str, enum_type: type[_E], value: object) -> _E | None:
    """Accept a member of ``enum_type`` or its exact value string; record anything else."""
    if isinstance(value, enum_type):
        return value
    for member in enum_type:
        if isinstance(value, str) and value == member.value:
            return member
    allowed = ", ".join(f"{enum_type.__name__}.{m.name}" for m in enum_type)
    problems.add(keyword, f"one of {allowed}", shown(value))
    return None


def is_dns_name(name: str) -> bool:
    """A fully qualified DNS name such as ``ocsp.example.com``: two or more labels of letters,
    digits and '-' (not at either end), at most 253 characters, no trailing dot."""
    return len(name) <= MAX_DNS_NAME_CHARS and DNS_NAME.fullmatch(name) is not None


def implements(value: object, interface: type) -> bool:
    """Does ``value`` implement the jsii interface ``interface`` (e.g. ``ec2.IVpc``)?

    jsii interfaces are protocols that ``isinstance`` cannot check: a class declares them with
    ``@jsii.implements`` (``__jsii_ifaces__``), and a resource returned from the JavaScript side
    (an imported one, for instance) is an instance of the interface's proxy class, or a dynamic
    proxy over several of them (``_delegates``).
    """
    declared = [
        iface for cls in type(value).__mro__ for iface in getattr(cls, "__jsii_ifaces__", ())
    ]
    # An interface's protocol bases are its parent interfaces (IVpc extends IResource).
    if any(interface is iface or interface in iface.__mro__ for iface in declared):
        return True
    make_proxy = getattr(interface, "__jsii_proxy_class__", None)
    proxy = make_proxy() if callable(make_proxy) else None
    if not isinstance(proxy, type):
        return False
    delegates = vars(value).get("_delegates", ()) if hasattr(value, "__dict__") else ()
    return isinstance(value, proxy) or any(isinstance(d, proxy) for d in delegates)
