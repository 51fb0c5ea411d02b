# One-command entry points; each creates or updates the local virtual
# environment in $(VENV) first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-installed

.PHONY: venv test lint demo

# Dependencies are reinstalled only when setup.py changes; the project itself
# is reinstalled on every run so that the installed copy is never stale.
$(DEPS_STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[test]"
	touch $(DEPS_STAMP)

venv: $(DEPS_STAMP)
	$(PY) -m pip install --quiet --no-deps --force-reinstall .

lint: venv
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

demo: venv
	$(PY) tools/verify_reference.py $(or $(MASKFORMER_SHARED_DIR),../shared)/fixtures/maskformer_reference/r50w16_enc
