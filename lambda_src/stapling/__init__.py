"""The IoT Core server-certificate OCSP stapling responder ("stapling Lambda") application.

IoT Core calls the function about hourly with the OCSP request for its own server certificate
and staples what it returns into TLS handshakes. Layers: ``request`` turns the untrusted event
into a ``Question`` (its CertID), ``answer`` asks the configured responder through the OCSP core
and decides what to return (a verified answer, byte for byte, or nothing), ``metrics`` writes
the log line; ``settings`` reads the environment. The handler (``stapling_handler.py``) encodes
the answer for IoT Core.
"""
