"""A local look-alike of an AWS IoT Core custom-domain endpoint, on loopback only.

- :mod:`ocsp_iot.local.endpoint`: ``LocalEndpoint`` (TLS with SNI and client certificates
  required, the real pre-auth handler deciding, OCSP stapling, forwarding to MQTT);
- :mod:`ocsp_iot.local.staple`: the staple refresh policy of IoT Core;
- :mod:`ocsp_iot.local.broker`: a throw-away mosquitto;
- :mod:`ocsp_iot.local.pki`: a PKI shaped like the deployed one.

Needs the ``cli`` extra (pyOpenSSL). See ``docs/local-endpoint.md``.
"""
