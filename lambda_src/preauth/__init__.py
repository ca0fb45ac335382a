"""The IoT Core custom client certificate validation ("pre-auth") application.

Layers: ``event`` turns the untrusted event into an ``Attempt``, ``device`` checks the device
certificate and finds its trusted CA, ``decide`` asks the OCSP core and returns a ``Decision``,
``metrics`` writes the log line; ``settings`` reads the environment. The handler
(``preauth_handler.py``) maps the ``Decision`` to IoT Core's answer.
"""
