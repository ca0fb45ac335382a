"""AWS CDK constructs for an AWS IoT Core fleet whose certificates are checked with OCSP.

The public API is re-exported here; each construct lives in a module named after it.
"""

from __future__ import annotations

from ._assets import lambda_source_dir
from ._validation import PropsError
from .ocsp_private_ca import (
    DEFAULT_SIGNING_ALGORITHM,
    CaHierarchy,
    CaSubject,
    KeyAlgorithm,
    OcspPrivateCa,
    SigningAlgorithm,
    UsageMode,
)
from .ocsp_validating_domain import (
    DevicePolicy,
    DomainApplicationProtocol,
    DomainAuthenticationType,
    OcspFailMode,
    OcspHashAlgorithm,
    OcspValidatingDomain,
    TlsSecurityPolicy,
    TrustedCa,
    TrustedIssuer,
)

__all__ = [
    "DEFAULT_SIGNING_ALGORITHM",
    "CaHierarchy",
    "CaSubject",
    "DevicePolicy",
    "DomainApplicationProtocol",
    "DomainAuthenticationType",
    "KeyAlgorithm",
    "OcspFailMode",
    "OcspHashAlgorithm",
    "OcspPrivateCa",
    "OcspValidatingDomain",
    "PropsError",
    "SigningAlgorithm",
    "TlsSecurityPolicy",
    "TrustedCa",
    "TrustedIssuer",
    "UsageMode",
    "lambda_source_dir",
]
__version__ = "0.1.0"
