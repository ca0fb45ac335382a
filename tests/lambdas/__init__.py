"""Tests of the Lambda code under ``lambda_src/``: ``core/`` (the generic OCSP client),
``preauth/`` (the pre-auth application and its handler) and ``support/`` (the test PKI, loopback
servers, forged answers and OpenSSL's responder)."""
