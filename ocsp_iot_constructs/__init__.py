"""AWS CDK constructs for an AWS IoT Core fleet whose certificates are checked with OCSP."""

from __future__ import annotations

from ._assets import lambda_source_dir

__all__ = ["lambda_source_dir"]
__version__ = "0.1.0"
