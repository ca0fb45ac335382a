"""``ocsp_core.chain``: validity periods and direct issuance."""

from __future__ import annotations

import datetime as dt

from ocsp_core.chain import is_directly_issued_by, validity_problem
from ocsp_core.reasons import OcspReason

from tests.lambdas.support.pki import Pki


def test_validity_problem(pki: Pki) -> None:
    device = pki.issue_device()
    start, end = device.cert.not_valid_before_utc, device.cert.not_valid_after_utc
    assert validity_problem(device.cert, start) is None
    assert validity_problem(device.cert, end) is None
    assert validity_problem(device.cert, start - dt.timedelta(seconds=1)) is (
        OcspReason.CERT_NOT_YET_VALID
    )
    assert validity_problem(device.cert, end + dt.timedelta(seconds=1)) is OcspReason.CERT_EXPIRED


def test_direct_issuance(pki: Pki) -> None:
    device = pki.issue_device()
    assert is_directly_issued_by(device.cert, pki.issuing_ca.cert)
    assert not is_directly_issued_by(device.cert, pki.rogue_ca.cert)  # same name, other key
    assert not is_directly_issued_by(device.cert, pki.root.cert)  # the CA's own issuer
    assert not is_directly_issued_by(device.cert, pki.rsa_ca.cert)  # other name and key type
