"""The untrusted event -> a ``Question``: the one CertID IoT Core asks about.

IoT Core sends a bare JSON string, the base64 of a DER ``OCSPRequest``. Anything else (not a
string, too long, not base64, not a DER OCSP request, several CertIDs, a hash OCSP cannot use, a
critical extension) raises ``EventError`` naming what is wrong, never anything else.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.x509 import ocsp
from cryptography.x509.oid import OCSPExtensionOID

from ocsp_core.certid import CertId

#: Longest event accepted, in characters. A one-CertID request is about 100 bytes (with a nonce
#: and a requestor name a few hundred); a signed request with certificates a few KiB.
MAX_EVENT_CHARS = 16_384


class EventError(ValueError):
    """The event is not the base64 of a usable one-CertID OCSP request."""


@dataclass(frozen=True, slots=True)
class Question:
    """What IoT Core asks: the status of ``cert_id``."""

    cert_id: CertId
    #: The request carried a nonce: it is not forwarded (see ``answer``), only logged.
    nonce: bool = False


def _request_of(event: object) -> ocsp.OCSPRequest:
    if not isinstance(event, str):
        kind = type(event).__name__
        msg = f"event must be a JSON string (base64 of a DER OCSP request), got {kind}"
        raise EventError(msg)
    if len(event) > MAX_EVENT_CHARS:
        msg = f"event is {len(event)} characters long; at most {MAX_EVENT_CHARS} are read"
        raise EventError(msg)
    text = "".join(event.split())  # line breaks inside base64 are harmless
    try:
        der = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        msg = f"event is not base64 ({exc})"
        raise EventError(msg) from exc
    if not der:
        msg = "event is empty"
        raise EventError(msg)
    try:
        return ocsp.load_der_ocsp_request(der)
    except Exception as exc:  # ValueError; NotImplementedError for several CertIDs
        msg = f"event is not a DER OCSP request for one certificate ({str(exc)[:200]})"
        raise EventError(msg) from exc


def parse_event(event: object) -> Question:
    """The ``Question`` in ``event``; ``EventError`` for anything unusable."""
    request = _request_of(event)
    try:
        cert_id = CertId.from_request(request)
        extensions = list(request.extensions)
    except Exception as exc:  # lazily parsed fields of hostile DER: an unknown hash, bad extensions
        msg = f"OCSP request cannot be read ({type(exc).__name__}: {str(exc)[:200]})"
        raise EventError(msg) from exc
    if cert_id.hash_algorithm is None:  # pragma: no cover - cryptography reads only those hashes
        msg = f"CertID hash {cert_id.hash_name!r} cannot be used in a request"
        raise EventError(msg)
    nonce = False
    for extension in extensions:
        if extension.oid == OCSPExtensionOID.NONCE:
            nonce = True
        elif extension.critical:
            msg = f"critical request extension {extension.oid.dotted_string} is not supported"
            raise EventError(msg)
    return Question(cert_id=cert_id, nonce=nonce)
