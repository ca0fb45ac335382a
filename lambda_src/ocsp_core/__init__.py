"""Pure OCSP checking core of the IoT Core pre-auth Lambda (no AWS SDK, no CDK).

Layers: ``event`` turns the untrusted event into a model, ``check`` decides, and the handler
(``preauth_handler.py``) maps the ``Decision`` to IoT Core's answer and logs it.
"""
