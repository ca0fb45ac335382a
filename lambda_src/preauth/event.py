"""Turn the untrusted IoT Core event into an ``Attempt``; raise only ``EventError``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography import x509

from .models import Attempt

#: IoT Core's own limit for a server chain is depth 5; a device chain gets no more.
MAX_CHAIN_LENGTH = 5
#: DER bytes per certificate (IoT Core caps a whole chain at 16 KB).
MAX_CERT_BYTES = 16_384
#: Characters per chain entry: base64 of MAX_CERT_BYTES plus PEM armour and line breaks.
MAX_ENTRY_CHARS = 24_576
MAX_FIELD_CHARS = 1_024

_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_PEM_END = "-----END CERTIFICATE-----"
_WHITESPACE = str.maketrans("", "", " \t\r\n")


class EventError(ValueError):
    """The event is not what IoT Core sends; ``path`` names the offending field."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def _string(value: object, path: str, *, limit: int = MAX_FIELD_CHARS) -> str:
    if not isinstance(value, str):
        raise EventError(path, f"must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise EventError(path, f"longer than {limit} characters")
    return value


def _field(mapping: Mapping[object, object], key: str, path: str) -> object:
    if key not in mapping:
        raise EventError(path, "missing")
    return mapping[key]


def _der(entry: str, path: str) -> bytes:
    text = entry.strip()
    if text.startswith(_PEM_BEGIN):
        if not text.endswith(_PEM_END) or text.count("-----BEGIN") != 1:
            raise EventError(path, "not a single PEM CERTIFICATE block")
        text = text[len(_PEM_BEGIN) : -len(_PEM_END)]
    elif "-" in text:
        raise EventError(path, "neither PEM nor base64 DER")
    compact = text.translate(_WHITESPACE)
    if not compact:
        raise EventError(path, "empty")
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EventError(path, "not valid base64") from exc
    if len(der) > MAX_CERT_BYTES:
        raise EventError(path, f"certificate larger than {MAX_CERT_BYTES} bytes")
    return der


def parse_certificate(entry: object, path: str) -> tuple[x509.Certificate, bytes]:
    """Parse one chain entry (PEM or bare base64 DER) and touch every field the core reads."""
    der = _der(_string(entry, path, limit=MAX_ENTRY_CHARS), path)
    try:
        cert = x509.load_der_x509_certificate(der)
        # Parsing is lazy: read now what the core reads later, so a malformed field is an
        # event error here, not an exception deep in the check.
        _ = (cert.serial_number, cert.issuer, cert.subject, cert.extensions)
        _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
    except Exception as exc:  # cryptography raises several types for hostile DER
        raise EventError(path, f"not an X.509 certificate ({type(exc).__name__})") from exc
    return cert, der


def parse_event(event: object) -> Attempt:
    """Validate the IoT Core pre-auth event; ``EventError`` is the only exception raised."""
    if not isinstance(event, Mapping):
        raise EventError("event", f"must be an object, got {type(event).__name__}")
    metadata = _field(event, "connectionMetadata", "connectionMetadata")
    if not isinstance(metadata, Mapping):
        raise EventError("connectionMetadata", "must be an object")
    id_path = "connectionMetadata.id"
    connection_id = _string(_field(metadata, "id", id_path), id_path)
    principal_id = _string(_field(event, "principalId", "principalId"), "principalId")
    server_name = _string(_field(event, "serverName", "serverName"), "serverName")
    chain = _field(event, "clientCertificateChain", "clientCertificateChain")
    if not isinstance(chain, list):
        raise EventError("clientCertificateChain", "must be a list of strings")
    if not chain:
        raise EventError("clientCertificateChain", "empty")
    if len(chain) > MAX_CHAIN_LENGTH:
        raise EventError("clientCertificateChain", f"more than {MAX_CHAIN_LENGTH} certificates")
    parsed = [
        parse_certificate(entry, f"clientCertificateChain[{index}]")
        for index, entry in enumerate(chain)
    ]
    leaf, leaf_der = parsed[0]
    return Attempt(
        connection_id=connection_id,
        principal_id=principal_id,
        server_name=server_name,
        leaf=leaf,
        leaf_der=leaf_der,
        intermediates=tuple(cert for cert, _der_bytes in parsed[1:]),
        chain=tuple(chain),
    )
