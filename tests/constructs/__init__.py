"""Tests of the CDK constructs: fine-grained template assertions, failures, snapshots."""
