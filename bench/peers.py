"""The peers the pre-auth check is measured against, on the same inputs. Benchmark code only:
the library never uses any of this.

- :func:`naive_check`: the check most published examples use (AIA URL, build the request, POST
  it on a new connection, accept ``good``): no signature, CertID or freshness check, no cache.
  It accepts a forged answer; it is here as a *baseline*, not as an alternative.
- :class:`PyhankoPeer`: pyhanko-certvalidator with OCSP in hard-fail mode (a well-kept path
  validator), with a fresh ``ValidationContext`` per validation or one reused context. A reused
  context caches OCSP answers for its lifetime and never refreshes them (so it would keep
  accepting a certificate revoked after its first check): the safe use is one context per
  decision.
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

SHA1 = hashes.SHA1()  # noqa: S303 - the CertID hash RFC 5019 responders expect


def naive_check(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The 20-line check of the published examples: ``good`` means allowed."""
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    url = next(
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    )
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, SHA1).build()
    reply = requests.post(
        url,
        data=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=5,
    )
    response = ocsp.load_der_ocsp_response(reply.content)
    return (
        response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        and response.certificate_status == ocsp.OCSPCertStatus.GOOD
    )


class PyhankoPeer:
    """pyhanko-certvalidator 0.3x: hard-fail OCSP, trust anchor = the issuing CA's root, the
    device's issuing CA given as an intermediate, its ``requests`` fetcher backend (a new
    connection per request; its aiohttp default spends ~14 ms building a TLS context per
    session), the async API driven by ``asyncio.run`` as a synchronous caller must."""

    def __init__(self, root_pem: bytes, intermediate_pem: bytes) -> None:
        from asn1crypto import pem as asn1_pem  # noqa: PLC0415 - bench environment only
        from asn1crypto import x509 as asn1_x509  # noqa: PLC0415

        def load(data: bytes) -> Any:
            return asn1_x509.Certificate.load(asn1_pem.unarmor(data)[2])

        self._load = load
        self._root = load(root_pem)
        self._intermediate = load(intermediate_pem)
        self._reused: Any = None

    def _context(self) -> Any:
        from pyhanko_certvalidator import ValidationContext  # noqa: PLC0415
        from pyhanko_certvalidator.fetchers.requests_fetchers import (  # noqa: PLC0415
            RequestsFetcherBackend,
        )

        return ValidationContext(
            trust_roots=[self._root],
            allow_fetching=True,
            revocation_mode="hard-fail",
            fetcher_backend=RequestsFetcherBackend(per_request_timeout=5),
        )

    def load(self, pem: bytes) -> Any:
        return self._load(pem)

    def check(self, leaf: Any, *, reuse: bool) -> bool:
        """Validate ``leaf`` (an asn1crypto certificate) for TLS client use; True if valid."""
        from pyhanko_certvalidator import CertificateValidator  # noqa: PLC0415
        from pyhanko_certvalidator.errors import (  # noqa: PLC0415
            PathValidationError,
            ValidationError,
        )

        if reuse and self._reused is None:
            self._reused = self._context()
        context = self._reused if reuse else self._context()

        async def validate() -> bool:
            validator = CertificateValidator(
                leaf, intermediate_certs=[self._intermediate], validation_context=context
            )
            try:
                await validator.async_validate_usage({"digital_signature"}, {"client_auth"})
            except (ValidationError, PathValidationError):
                return False
            return True

        return asyncio.run(validate())
