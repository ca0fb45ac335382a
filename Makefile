# Single entry point. `make synth` and `make test` each do all the set-up they need and are
# idempotent: a second run only re-checks stamps.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
NODE_BIN := $(CURDIR)/node_modules/.bin
# jsii (the bridge aws-cdk-lib uses) and the CDK CLI run on the Node LTS pinned in package.json,
# not on whatever `node` the machine has (Node 20 is end-of-life and prints a banner on every synth).
export JSII_NODE := $(NODE_BIN)/node
export PATH := $(NODE_BIN):$(PATH)
# Debian packages the tests need (real OCSP responder and TLS tools).
DEB_PACKAGES := openssl

.PHONY: help synth test lint typecheck pytest bench setup clean deps-python deps-node deps-debian

help:
	@echo "make synth     - synthesize the reference app into cdk.out/"
	@echo "make test      - lint, type-check and run the whole test suite (what CI runs)"
	@echo "make bench     - run the benchmarks under bench/"
	@echo "make lint      - ruff check and ruff format --check"
	@echo "make typecheck - mypy (strict on the library and the Lambda code)"
	@echo "make pytest    - the test suite alone (PYTEST_ARGS=... to pass options)"
	@echo "make setup     - install everything the targets need (venv, npm, Debian packages)"
	@echo "make clean     - remove build and cache folders"

$(VENV)/.stamp: pyproject.toml lambda_src/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

deps-python: $(VENV)/.stamp
deps-node: node_modules/.stamp

deps-debian:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

setup: deps-python deps-node deps-debian

synth: deps-python deps-node
	$(NODE_BIN)/cdk synth --quiet --output cdk.out
	@ls cdk.out/*.template.json

lint: deps-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: deps-python
	$(VENV)/bin/mypy

pytest: setup
	$(PY) -m pytest --hypothesis-profile=ci --cov --cov-report=term $(PYTEST_ARGS)

test: setup lint typecheck pytest

# The benchmarks run in their own venv: the peers they compare against (pyhanko-certvalidator)
# and the chart's matplotlib are installed there only, never next to the library's tests.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.stamp: pyproject.toml lambda_src/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@

bench: deps-node deps-debian $(BENCH_VENV)/.stamp
	$(BENCH_VENV)/bin/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf cdk.out dist build .pytest_cache .mypy_cache .ruff_cache
