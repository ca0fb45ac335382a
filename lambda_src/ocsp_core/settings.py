"""Settings read once from a Lambda's environment, declared as one table per handler.

Each :class:`Setting` names its environment variable, its kind, its default and its bounds; a
handler lists the ones it reads (``preauth.settings.SETTINGS``) and :func:`read_settings` reads
them all, collecting every problem so that one log line says all that is wrong. The construct
keeps a copy of each table (``ocsp_iot_constructs``), and a test asserts the two are equal.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from cryptography import x509

from .chain import ca_problem

#: IoT Core gives a Lambda about 5 s; every answer must come well before that.
MAX_DEADLINE_SECONDS = 4.5
#: The bound of every whole-second duration setting (stale-if-error, cache age, freshness).
MAX_SETTING_SECONDS = 86_400


class Kind(enum.StrEnum):
    """How a setting's text is read."""

    #: one or more PEM CA certificates
    CERTIFICATES = "certificates"
    #: one PEM certificate (any kind), or nothing
    CERTIFICATE = "certificate"
    #: comma-separated absolute http(s) URLs (normalized)
    URLS = "urls"
    #: one absolute http(s) URL (normalized), or nothing
    URL = "url"
    #: one of ``choices``, in any case
    CHOICE = "choice"
    #: a whole number from ``minimum`` to ``maximum``
    INTEGER = "integer"
    #: a decimal number of seconds above ``minimum`` and at most ``maximum``
    SECONDS = "seconds"
    #: ``on`` or ``off``
    SWITCH = "switch"


@dataclass(frozen=True, slots=True)
class Setting:
    """One environment setting. ``default`` is the text applied when the variable is unset or
    blank (``""``: none)."""

    env: str
    kind: Kind
    default: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def row(self) -> tuple[str, str, str, float | None, float | None, tuple[str, ...]]:
        """The setting as plain values (what the construct's copy is compared with)."""
        return (self.env, self.kind.value, self.default, self.minimum, self.maximum, self.choices)


# The settings shared by the handlers; each handler's table lists the ones it reads (a handler
# may narrow a row with ``dataclasses.replace``).
TRUSTED_CA_PEM = Setting("TRUSTED_CA_PEM", Kind.CERTIFICATES)
OCSP_AUTHORIZED_RESPONDER_PEM = Setting("OCSP_AUTHORIZED_RESPONDER_PEM", Kind.CERTIFICATE)
OCSP_ALLOWED_URLS = Setting("OCSP_ALLOWED_URLS", Kind.URLS)
OCSP_RESPONDER_URL = Setting("OCSP_RESPONDER_URL", Kind.URL)
OCSP_TIMEOUT_SECONDS = Setting(
    "OCSP_TIMEOUT_SECONDS", Kind.SECONDS, "2", minimum=0, maximum=MAX_DEADLINE_SECONDS
)
OCSP_CACHE_MAX_SECONDS = Setting(
    "OCSP_CACHE_MAX_SECONDS", Kind.INTEGER, "3600", minimum=0, maximum=MAX_SETTING_SECONDS
)
OCSP_CACHE_MAX_ENTRIES = Setting(
    "OCSP_CACHE_MAX_ENTRIES", Kind.INTEGER, "10000", minimum=0, maximum=1_000_000
)
OCSP_NONCE = Setting("OCSP_NONCE", Kind.SWITCH, "off")
OCSP_MAX_RESPONSE_BYTES = Setting(
    "OCSP_MAX_RESPONSE_BYTES", Kind.INTEGER, "16384", minimum=1_024, maximum=1_048_576
)
OCSP_HASH_ALGORITHM = Setting(
    "OCSP_HASH_ALGORITHM", Kind.CHOICE, "sha1", choices=("sha1", "sha256")
)
OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS = Setting(
    "OCSP_MAX_AGE_WITHOUT_NEXT_UPDATE_SECONDS",
    Kind.INTEGER,
    "300",
    minimum=0,
    maximum=MAX_SETTING_SECONDS,
)

_INT = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,4}(\.[0-9]{1,6})?")
# Printable ASCII without space or backslash: anything else is a parser-differential risk.
_URL_CHARS = re.compile(r"[!-\[\]-~]+")
_MAX_URL_CHARS = 2_048
_MAX_HOST_CHARS = 253
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
_T = TypeVar("_T")


class ConfigError(Exception):
    """The environment is missing or has a malformed setting; ``problems`` lists each one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))


class Problems:
    """Problems collected while reading, reported in the order of the table's settings."""

    def __init__(self, table: Sequence[Setting]) -> None:
        self._order = {setting.env: index for index, setting in enumerate(table)}
        self._found: list[tuple[int, str]] = []

    def add(self, env: str, message: str) -> None:
        """Record ``message`` about the setting ``env`` (its first word names the setting)."""
        self._found.append((self._order.get(env, len(self._order)), message))

    def raise_if_any(self) -> None:
        if self._found:
            raise ConfigError([message for _, message in sorted(self._found, key=lambda p: p[0])])


def _check_host(host: str) -> None:
    """A DNS name (labels of 1-63 letters, digits, ``-``, ``_``; an optional final dot), an
    IPv4 address or a bracketed IPv6 address. Anything else could never be connected to, and
    the transport must never mistake "cannot even try" for an unreachable responder."""
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            msg = f"host {host[:100]!r} is not an IPv6 address"
            raise ValueError(msg) from exc
        return
    name = host.removesuffix(".")
    if len(name) > _MAX_HOST_CHARS or not all(_LABEL.fullmatch(part) for part in name.split(".")):
        msg = f"host {host[:100]!r} is not a valid host name"
        raise ValueError(msg)


def normalize_url(raw: str) -> str:
    """Return the canonical form of an http(s) URL, or raise ``ValueError`` saying why not.

    Lower-case scheme and host, default port dropped, empty path -> ``/``. User info, fragments,
    spaces, control characters, backslashes and non-ASCII are refused outright.
    """
    if len(raw) > _MAX_URL_CHARS:
        msg = f"longer than {_MAX_URL_CHARS} characters"
        raise ValueError(msg)
    if not _URL_CHARS.fullmatch(raw):
        msg = "contains spaces, control characters, backslashes or non-ASCII characters"
        raise ValueError(msg)
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        msg = "scheme must be http or https"
        raise ValueError(msg)
    if "@" in parts.netloc:
        msg = "must not contain user info"
        raise ValueError(msg)
    if parts.fragment or raw.endswith("#"):
        msg = "must not contain a fragment"
        raise ValueError(msg)
    host = parts.hostname
    if not host:
        msg = "has no host"
        raise ValueError(msg)
    _check_host(host)
    port = parts.port  # raises ValueError when out of range or not a number
    if port == 0:
        msg = "port 0 is not a port"
        raise ValueError(msg)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != (80 if scheme == "http" else 443):
        netloc = f"{netloc}:{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def _bound(value: float | None) -> float:
    if value is None:  # pragma: no cover - every numeric row of the tables has both bounds
        msg = "a numeric setting needs both bounds"
        raise ValueError(msg)
    return value


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _integer(setting: Setting, raw: str, problems: Problems) -> int | None:
    low, high = _bound(setting.minimum), _bound(setting.maximum)
    if _INT.fullmatch(raw) and low <= int(raw) <= high:
        return int(raw)
    problems.add(
        setting.env,
        f"{setting.env} must be a whole number from {_number(low)} to {_number(high)}, got {raw!r}",
    )
    return None


def _seconds(setting: Setting, raw: str, problems: Problems) -> float | None:
    low, high = _bound(setting.minimum), _bound(setting.maximum)
    if _DECIMAL.fullmatch(raw) and low < float(raw) <= high:
        return float(raw)
    problems.add(
        setting.env,
        f"{setting.env} must be a number of seconds above {_number(low)} and at most "
        f"{_number(high)}, got {raw!r}",
    )
    return None


def _choice(setting: Setting, raw: str, problems: Problems) -> str | None:
    if raw.lower() in setting.choices:
        return raw.lower()
    allowed = " or ".join(repr(choice) for choice in setting.choices)
    problems.add(setting.env, f"{setting.env} must be {allowed}, got {raw!r}")
    return None


def _switch(setting: Setting, raw: str, problems: Problems) -> bool | None:
    if raw.lower() in ("on", "off"):
        return raw.lower() == "on"
    problems.add(setting.env, f"{setting.env} must be 'on' or 'off', got {raw!r}")
    return None


def _certificates(
    setting: Setting, raw: str, problems: Problems
) -> tuple[x509.Certificate, ...] | None:
    if not raw:
        problems.add(
            setting.env, f"{setting.env} must hold one or more PEM CA certificates, got nothing"
        )
        return None
    try:
        cas = tuple(x509.load_pem_x509_certificates(raw.encode("ascii")))
    except (ValueError, UnicodeEncodeError) as exc:
        problems.add(
            setting.env, f"{setting.env} must hold PEM certificates; it does not parse ({exc})"
        )
        return None
    for index, ca in enumerate(cas):
        problem = ca_problem(ca)
        if problem is not None:
            problems.add(
                setting.env,
                f"{setting.env} certificate #{index + 1} ({_subject(ca)}) must be {problem}",
            )
    return cas


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()[:200]
    except ValueError:  # a name that cannot be rendered must not hide the problem
        return "subject not printable"


def _certificate(setting: Setting, raw: str, problems: Problems) -> x509.Certificate | None:
    if not raw:
        return None
    try:
        certificates = x509.load_pem_x509_certificates(raw.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        problems.add(
            setting.env, f"{setting.env} must hold one PEM certificate; it does not parse ({exc})"
        )
        return None
    if len(certificates) != 1:
        problems.add(
            setting.env,
            f"{setting.env} must hold exactly one PEM certificate, got {len(certificates)}",
        )
        return None
    return certificates[0]


def _urls(setting: Setting, raw: str, problems: Problems) -> frozenset[str]:
    allowed: set[str] = set()
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            allowed.add(normalize_url(item))
        except ValueError as exc:
            problems.add(
                setting.env,
                f"{setting.env} entries must be absolute http(s) URLs; {item[:200]!r} {exc}",
            )
    return frozenset(allowed)


def _url(setting: Setting, raw: str, problems: Problems) -> str | None:
    if not raw:
        return None
    try:
        return normalize_url(raw)
    except ValueError as exc:
        problems.add(
            setting.env, f"{setting.env} must be an absolute http(s) URL; {raw[:200]!r} {exc}"
        )
        return None


_READERS = {
    Kind.CERTIFICATES: _certificates,
    Kind.CERTIFICATE: _certificate,
    Kind.URLS: _urls,
    Kind.URL: _url,
    Kind.CHOICE: _choice,
    Kind.INTEGER: _integer,
    Kind.SECONDS: _seconds,
    Kind.SWITCH: _switch,
}


class Values:
    """The values :func:`read_settings` read, by environment name, with typed accessors. A
    value that failed is ``None``; read values only after ``Problems.raise_if_any``."""

    def __init__(self, values: Mapping[str, object]) -> None:
        self._values = dict(values)

    def get(self, env: str) -> object:
        return self._values[env]

    def _typed(self, env: str, kind: type[_T]) -> _T:
        value = self._values[env]
        if not isinstance(value, kind):
            msg = f"{env} was read as {type(value).__name__}, not {kind.__name__}"
            raise TypeError(msg)
        return value

    def integer(self, env: str) -> int:
        return self._typed(env, int)

    def seconds(self, env: str) -> float:
        return self._typed(env, float)

    def text(self, env: str) -> str:
        return self._typed(env, str)

    def switch(self, env: str) -> bool:
        return self._typed(env, bool)

    def optional_url(self, env: str) -> str | None:
        value = self._values[env]
        return None if value is None else self._typed(env, str)

    def urls(self, env: str) -> frozenset[str]:
        return frozenset(str(url) for url in self._typed(env, frozenset))

    def optional_certificate(self, env: str) -> x509.Certificate | None:
        value = self._values[env]
        return None if value is None else self._typed(env, x509.Certificate)

    def certificates(self, env: str) -> tuple[x509.Certificate, ...]:
        return tuple(c for c in self._typed(env, tuple) if isinstance(c, x509.Certificate))


def read_settings(env: Mapping[str, str], table: Sequence[Setting], problems: Problems) -> Values:
    """Every setting of ``table`` read from ``env`` (blank means the default); a value that
    fails is ``None`` and its problem is in ``problems``."""
    values: dict[str, object] = {}
    for setting in table:
        raw = env.get(setting.env, "").strip() or setting.default
        values[setting.env] = _READERS[setting.kind](setting, raw, problems)
    return Values(values)


def defaults(table: Sequence[Setting]) -> dict[str, str]:
    """The default text of every setting of ``table`` (``""``: none)."""
    return {setting.env: setting.default for setting in table}
