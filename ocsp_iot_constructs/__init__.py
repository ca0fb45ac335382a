"""AWS CDK constructs for an AWS IoT Core fleet whose certificates are checked with OCSP.

The public API is re-exported here; each construct lives in a module named after it.
"""

from __future__ import annotations

from ._assets import lambda_source_dir
from ._validation import PropsError
from .ocsp_iot_dashboard import OcspIotDashboard, StapledDomain
from .ocsp_private_ca import (
    DEFAULT_SIGNING_ALGORITHM,
    END_ENTITY_TEMPLATES,
    CaHierarchy,
    CaSubject,
    CertificateTemplate,
    KeyAlgorithm,
    OcspCnameDistribution,
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
from .stapling_domain_config import (
    OcspAuthorizedResponder,
    OcspStapling,
    ServerCertificateStapling,
    StaplingDomainConfig,
)

__all__ = [
    "DEFAULT_SIGNING_ALGORITHM",
    "END_ENTITY_TEMPLATES",
    "CaHierarchy",
    "CaSubject",
    "CertificateTemplate",
    "DevicePolicy",
    "DomainApplicationProtocol",
    "DomainAuthenticationType",
    "KeyAlgorithm",
    "OcspAuthorizedResponder",
    "OcspCnameDistribution",
    "OcspFailMode",
    "OcspHashAlgorithm",
    "OcspIotDashboard",
    "OcspPrivateCa",
    "OcspStapling",
    "OcspValidatingDomain",
    "PropsError",
    "ServerCertificateStapling",
    "SigningAlgorithm",
    "StapledDomain",
    "StaplingDomainConfig",
    "TlsSecurityPolicy",
    "TrustedCa",
    "TrustedIssuer",
    "UsageMode",
    "lambda_source_dir",
]
__version__ = "0.1.0"
