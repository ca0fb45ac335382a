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
# Debian packages the tests need (real OCSP responder and TLS tools, a real MQTT broker and clients).
DEB_PACKAGES := openssl mosquitto mosquitto-clients

# Where `make wheelhouse` puts the Lambda's wheels and `make lambda-bundle` its bundles.
WHEELHOUSE ?= wheelhouse
LAMBDA_BUNDLES ?= dist/lambda

.PHONY: help synth test demo lint typecheck pytest bench setup clean deps-python deps-node \
	deps-debian wheelhouse lambda-bundle

help:
	@echo "make synth         - synthesize the reference app into cdk.out/"
	@echo "make test          - lint, type-check and run the whole test suite (what CI runs)"
	@echo "make demo          - the whole fleet on 127.0.0.1: PKI, openssl ocsp, mosquitto, the local endpoint, real devices"
	@echo "make bench         - run the benchmarks under bench/"
	@echo "make lint          - ruff check and ruff format --check"
	@echo "make typecheck     - mypy (strict on the library and the Lambda code)"
	@echo "make pytest        - the test suite alone (PYTEST_ARGS=... to pass options)"
	@echo "make setup         - install everything the targets need (venv, npm, Debian packages)"
	@echo "make wheelhouse    - download the Lambda's wheels (arm64, x86_64) into WHEELHOUSE=$(WHEELHOUSE)"
	@echo "make lambda-bundle - build the Lambda's bundles (arm64, x86_64 zips) into LAMBDA_BUNDLES=$(LAMBDA_BUNDLES)"
	@echo "make clean         - remove build and cache folders"

$(VENV)/.stamp: pyproject.toml constraints.txt lambda_src/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' -c constraints.txt
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

# The local fleet end to end (ocsp-iot demo): needs the venv and the Debian packages only.
# DEMO_ARGS="--keep demo-files" keeps the PKI and device folders; DEMO_ARGS=--json for JSON.
demo: deps-python deps-debian
	$(VENV)/bin/ocsp-iot demo $(DEMO_ARGS)

# The benchmarks run in their own venv: the peers they compare against (pyhanko-certvalidator)
# and the chart's matplotlib are installed there only, never next to the library's tests.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.stamp: pyproject.toml constraints.txt bench/constraints.txt lambda_src/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-e '.[dev,bench]' -c constraints.txt -c bench/constraints.txt
	touch $@

bench: deps-node deps-debian $(BENCH_VENV)/.stamp
	$(BENCH_VENV)/bin/python bench/run_all.py $(BENCH_ARGS)

# Offline synth: fill a wheelhouse where PyPI is reachable, then OCSP_IOT_WHEELHOUSE=$(WHEELHOUSE).
wheelhouse: deps-python deps-node
	$(PY) -m ocsp_iot_constructs wheelhouse $(WHEELHOUSE)

# Prebuilt bundles, used as the code asset as is:
# OCSP_IOT_LAMBDA_BUNDLE=$(LAMBDA_BUNDLES)/ocsp-iot-lambda-{architecture}.zip
lambda-bundle: deps-python deps-node
	$(PY) -m ocsp_iot_constructs bundle $(LAMBDA_BUNDLES)

clean:
	rm -rf cdk.out dist build .pytest_cache .mypy_cache .ruff_cache
