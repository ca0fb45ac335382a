"""End to end with real TLS peers: the stapling handler's answer, decoded, is stapled by
``openssl s_server -status_file`` and read by ``openssl s_client -status`` (both on 127.0.0.1),
as IoT Core staples it into its handshakes. The request is the one ``openssl ocsp`` builds (with
a nonce, which the handler does not forward), the responder is ``openssl ocsp``."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from tests.lambdas.support.openssl import (
    OpensslResponder,
    StaplingTlsServer,
    openssl_request,
    run_s_client_status,
)
from tests.lambdas.support.pki import Issued, Pki
from tests.lambdas.support.stapling import Stapler

Configure = Callable[..., None]
NAME = "devices.example.com"


def _staple_for(
    pki: Pki,
    configure: Configure,
    staple: Stapler,
    *,
    ca: Issued,
    signer: Issued,
    status: str,
) -> tuple[Issued, bytes]:
    """A server certificate of ``ca``, and the staple the handler returns for it."""
    with OpensslResponder(ca=ca, signer=signer, nmin=60) as responder:
        server_cert = pki.issue_server(NAME, issuer=ca, ocsp_url=responder.url)
        if status == "good":
            responder.set_good(server_cert)
        else:
            responder.set_revoked(server_cert, reason="keyCompromise")
        configure(
            responder_url=responder.url,
            trusted=[ca],
            authorized=signer if signer is not ca else None,
        )
        result = staple(base64.b64encode(openssl_request(server_cert, ca)).decode())
    assert result.reason == status.upper(), result
    assert result.log["requestNonce"] is True
    return server_cert, base64.b64decode(result.answer)


@pytest.mark.parametrize(
    ("ca_name", "signer_name"),
    [("issuing_ca", "issuing_ca"), ("rsa_ca", "rsa_ca"), ("issuing_ca", "delegate")],
    ids=["ec-ca-signed", "rsa-ca-signed", "delegate-signed"],
)
@pytest.mark.parametrize("status", ["good", "revoked"])
def test_s_client_reads_the_stapled_answer(
    *,
    pki: Pki,
    configure: Configure,
    staple: Stapler,
    ca_name: str,
    signer_name: str,
    status: str,
) -> None:
    server_cert, der = _staple_for(
        pki,
        configure,
        staple,
        ca=getattr(pki, ca_name),
        signer=getattr(pki, signer_name),
        status=status,
    )
    with StaplingTlsServer(server_cert, staple=der) as tls:
        output = run_s_client_status(tls.port, NAME)
    assert "OCSP Response Status: successful (0x0)" in output, output
    assert f"Cert Status: {status}" in output, output
    serial = format(server_cert.serial, "X")
    assert f"Serial Number: {serial.zfill(len(serial) + len(serial) % 2)}" in output, output
    if status == "revoked":
        assert "Revocation Reason: keyCompromise" in output, output


def test_without_a_staple_s_client_says_so(pki: Pki) -> None:
    """What a client sees when IoT Core has nothing to staple (the handler returned "")."""
    server_cert = pki.issue_server(NAME)
    with StaplingTlsServer(server_cert, staple=None) as tls:
        output = run_s_client_status(tls.port, NAME)
    assert "OCSP response: no response sent" in output, output
