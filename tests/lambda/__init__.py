"""Tests of the Lambda code under ``lambda_src/`` (pre-auth handler and ``ocsp_core``)."""
