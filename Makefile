# xo-mcp — every target does its own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv demo test lint bench image base-image image-test clean

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

test: $(STAMP) ## run the whole test suite
	$(PY) -m pytest

lint: $(STAMP) ## ruff + mypy
	$(VENV)/bin/ruff check xo_mcp tests bench
	$(VENV)/bin/ruff format --check xo_mcp tests bench
	$(VENV)/bin/mypy

clean: ## remove the venv and build outputs
	rm -rf $(VENV) build .cache .pytest_cache .mypy_cache .ruff_cache
