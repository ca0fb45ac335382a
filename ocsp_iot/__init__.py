"""Operator tools for an OCSP-checked AWS IoT Core fleet: the ``ocsp-iot`` command and a local
look-alike of an IoT Core custom-domain endpoint (``ocsp_iot.local``).

Everything here runs the Lambda code of ``ocsp_iot_constructs`` in-process (through
``ocsp_iot._lambda``) and never imports the CDK.
"""

from __future__ import annotations

__all__: list[str] = []
