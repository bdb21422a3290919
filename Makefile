# Two entry points a new user needs (see README): `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := docker-registry skopeo umoci oci-image-tool busybox-static buildah git rsync groovy
STAMP := $(VENV)/.installed
LINT_DIRS := $(wildcard src tests bench examples)

.PHONY: demo test deps apt services lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

deps: $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: deps apt
	bash examples/demo.sh

bench: deps apt
	$(PY) bench/run.py

lint: deps
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)

typecheck: deps
	$(VENV)/bin/mypy

services: deps
	@if [ -f scripts/install-test-services.sh ]; then bash scripts/install-test-services.sh; fi

unit: deps apt services
	PATH="$(CURDIR)/$(VENV)/bin:$(CURDIR)/.cache/node/node_modules/.bin:$$PATH" $(VENV)/bin/pytest -q -p no:cacheprovider

test: deps apt lint typecheck unit

clean:
	rm -rf $(VENV) build dist demo-out
