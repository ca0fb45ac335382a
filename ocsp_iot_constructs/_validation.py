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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import aws_cdk as cdk
from constructs import IConstruct

#: Prefix of every warning id this library adds.
WARNING_PREFIX = "ocsp-iot"
#: The namespace CDK gives warnings in its validation report: the id that acknowledges the
#: warning ``ocsp-iot:failOpen`` is ``Annotation::ocsp-iot:failOpen`` (see :func:`warn`).
ACKNOWLEDGEMENT_NAMESPACE = "Annotation"

#: The longest DNS name (RFC 1035), and a name of two or more labels of lower-case letters, digits
#: and '-' (the one rule for every DNS name a prop takes: domains, OCSP and CRL CNAMEs).
MAX_DNS_NAME_CHARS = 253
_DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DNS_NAME = re.compile(rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})+")
#: How the DNS-name rule reads in a message.
DNS_NAME_RULE = (
    f"a lower-case fully qualified domain name of at most {MAX_DNS_NAME_CHARS} characters "
    "(labels of a-z, 0-9 and '-', a top-level label that is not all digits; no wildcard, scheme, "
    "port, path or trailing dot)"
)
#: Longest form of a given value that a message quotes.
MAX_SHOWN_CHARS = 160

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
        self._keywords: set[str] = set()

    def add(self, keyword: str, allowed: str, got: Any, fix: str | None = None) -> None:
        """Record ``<keyword> must be <allowed>, got <got>[; <fix>]``, where ``got`` is quoted
        readably (:func:`readable`: never a whole certificate or an object's address)."""
        message = f"{keyword} must be {allowed}, got {readable(got)!r}"
        if fix:
            message += f"; {fix}"
        self._problems.append(message)
        self._keywords.add(keyword)

    def reported(self, *keywords: str) -> bool:
        """Has a problem been recorded for any of ``keywords`` (so that a check that combines
        them would only repeat it)?"""
        return any(k in self._keywords for k in keywords)

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


class PrefixedProblems(Problems):
    """A view of ``parent`` that records every problem with its keyword prefixed (e.g.
    ``stapling.``): the props of an option group are reported under the prop that holds it."""

    def __init__(self, parent: Problems, prefix: str) -> None:
        self._parent = parent
        self._prefix = prefix

    def add(self, keyword: str, allowed: str, got: Any, fix: str | None = None) -> None:
        self._parent.add(f"{self._prefix}{keyword}", allowed, got, fix)

    def reported(self, *keywords: str) -> bool:
        return self._parent.reported(*(f"{self._prefix}{k}" for k in keywords))

    def __bool__(self) -> bool:
        return bool(self._parent)

    def raise_if_any(self) -> None:
        self._parent.raise_if_any()


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


class _Described(str):
    """A description that a message shows as it is (its ``repr`` has no quotes)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


def described(text: str) -> object:
    """``text`` shown as it is after "got" (a description of the value, not the value)."""
    return _Described(text)


def _type_name(value: object) -> str:
    module = type(value).__module__.removeprefix("aws_cdk.")
    qualname = type(value).__qualname__
    return qualname if module in {"builtins", "__main__"} else f"{module}.{qualname}"


def readable(value: object) -> object:
    """``value`` as a message quotes it: as is when its ``repr`` is short and says what it is;
    otherwise a description: long text and bytes are cut (a PEM is never printed whole), and an
    object without a useful ``repr`` is named by its type (and its ``name``, if it has one:
    ``<aws_certificatemanager.KeyAlgorithm RSA_2048>``)."""
    if isinstance(value, _Described):
        return value
    if isinstance(value, bytes | bytearray):
        head = bytes(value[:40])
        return _Described(f"<{len(value)} bytes: {head!r}...>")
    text = repr(value)
    if " object at 0x" in text:
        name = getattr(value, "name", None)
        suffix = f" {name}" if isinstance(name, str) else ""
        return _Described(f"<{_type_name(value)}{suffix}>")
    if len(text) <= MAX_SHOWN_CHARS:
        return value
    if isinstance(value, str):
        return _Described(f"{value[:60]!r}... ({len(value)} characters)")
    return _Described(f"<{_type_name(value)}: {text[:MAX_SHOWN_CHARS]}...>")


def shown(value: object) -> object:
    """A readable form of ``value`` for messages (durations, removal policies, enum members)."""
    if isinstance(value, cdk.Duration):
        return value.to_human_string()
    if isinstance(value, cdk.RemovalPolicy):
        return f"RemovalPolicy.{value.name}"
    if isinstance(value, enum.Enum):
        return value.value
    return value


def enum_member(
    problems: Problems,
    keyword: str,
    enum_type: type[_E],
    value: object,
    *,
    allowed: str | None = None,
) -> _E | None:
    """Accept a member of ``enum_type``, or its value or name as a string in any case
    (``"OPEN"``, ``"open"``: as the Lambda and the reference app's context read them); record
    anything else. ``allowed`` replaces the list of members in the message (for long enums)."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        wanted = value.lower()
        for member in enum_type:
            if wanted in (str(member.value).lower(), member.name.lower()):
                return member
    text = allowed or "one of " + ", ".join(f"{enum_type.__name__}.{m.name}" for m in enum_type)
    fix = None
    name = getattr(value, "name", None)
    if not isinstance(value, str) and isinstance(name, str):
        # Another library's enum of the same name (aws_certificatemanager.KeyAlgorithm): say
        # which one to use.
        same = next((m for m in enum_type if m.name.lower() == name.lower()), None)
        if same is not None:
            package = enum_type.__module__.split(".", 1)[0]
            fix = f"use {enum_type.__name__}.{same.name} from {package}, not {_type_name(value)}"
    problems.add(keyword, text, shown(value), fix)
    return None


def check_bool(problems: Problems, keyword: str, value: object) -> bool:
    """``value`` must be ``True`` or ``False`` (a truthy string would silently switch a feature
    on); returns whether it is."""
    ok = isinstance(value, bool)
    problems.require(ok, keyword, "True or False", value)
    return ok


def check_sequence(problems: Problems, keyword: str, value: object, what: str) -> list[Any]:
    """``value`` must be a list or tuple (not a string); returns its items (none when it is
    not one, which was reported)."""
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        problems.add(keyword, f"a list of {what}", value, "wrap a single value in a list")
        return []
    return list(value)


def check_mapping(problems: Problems, keyword: str, value: object, what: str) -> dict[Any, Any]:
    """``value`` must be a mapping such as a ``dict``; returns a copy (empty when it is not)."""
    if not isinstance(value, Mapping):
        problems.add(keyword, f"a mapping of {what}", value)
        return {}
    return dict(value)


def is_dns_name(name: str) -> bool:
    """A fully qualified, lower-case DNS name such as ``ocsp.example.com``: two or more labels of
    a-z, 0-9 and '-' (not at either end), a top-level label that is not all digits (that would
    be an IP address), at most 253 characters, no trailing dot (:data:`DNS_NAME_RULE`)."""
    return (
        len(name) <= MAX_DNS_NAME_CHARS
        and DNS_NAME.fullmatch(name) is not None
        and not name.rsplit(".", 1)[-1].isdigit()
    )


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
