"""A strict, generic OCSP client (no AWS SDK, no CDK, no knowledge of IoT events).

Rooms, lowest first: ``reasons`` (typed failures), ``der`` (a strict DER reader for what
``cryptography`` does not expose), ``certid`` (the CertID a question is keyed on), ``chain``
(validity, direct issuance, and which certificates each role may use: RFC 5280), ``ocsp``
(request building and RFC 6960 response verification), ``cache`` (verified answers, with their
DER), ``transport`` (the ``http.client`` client a handler owns, bounded by its deadline) and
``settings`` (reading a table of environment settings). The Lambda applications sit beside it:
``preauth`` (IoT Core custom client certificate validation) and ``stapling`` (the responder IoT
Core asks for its server certificate's OCSP staple).
"""
