"""The fleet-wide cache shared by every Lambda environment (DynamoDB): its item schema.

Importing this package never imports the AWS SDK: only the table client does, and only when a
table is configured (``OCSP_SHARED_CACHE_TABLE``).
"""
