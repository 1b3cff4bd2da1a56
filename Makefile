PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Simulations run on PyPy where it is installed (simulator/interpreter.py), about 1.5 times as
# fast; its venv holds only what a simulation worker imports.
PYPY ?= pypy3
PYPY_VENV := .venv-pypy

.PHONY: run test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The install is editable, so reinstall only when pyproject.toml changes or a package's
# __init__.py appears: setuptools' editable finder records a package that had no
# __init__.py at install time as a namespace package, and keeps it one until reinstalled.
INSTALL_DEPS := pyproject.toml $(wildcard firmware/*/__init__.py tools/__init__.py)

$(VENV)/.stamp-run: $(INSTALL_DEPS) | $(BIN)/python
	$(BIN)/python -m pip install -e '.[sim]'
	touch $@

# Optional: without pypy3, or if its packages will not install, simulations run on CPython.
$(PYPY_VENV)/.stamp: pyproject.toml
	@if command -v $(PYPY) >/dev/null 2>&1; then \
	    if $(PYPY) -m venv $(PYPY_VENV) && $(PYPY_VENV)/bin/python -m pip install -q \
	            --only-binary :all: numpy 'simpy>=4.1,<5'; then \
	        touch $@; \
	    else \
	        rm -rf $(PYPY_VENV); \
	        echo "note: could not set up $(PYPY_VENV), so simulations run on CPython"; \
	    fi; \
	else \
	    echo "note: no $(PYPY), so simulations run on CPython ('apt install pypy3 pypy3-venv'" \
	         "makes them about 1.5 times as fast)"; \
	fi

$(VENV)/.stamp-dev: $(INSTALL_DEPS) | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

# The main job: a synthetic district of 5,000 bulbs for 5 simulated minutes (a few minutes of
# wall time); prints its metrics and where report.html is.
run: $(VENV)/.stamp-run $(PYPY_VENV)/.stamp
	$(BIN)/meshbulb sim run simulator/scenarios/district.toml --out results/district

bench: $(VENV)/.stamp-dev
	$(BIN)/meshbulb bench core

# Runs all three checks even if one fails, then exits non-zero if any failed.
test: $(VENV)/.stamp-dev $(PYPY_VENV)/.stamp
	@rc=0; \
	echo "== ruff"; $(BIN)/ruff check firmware tools gateway simulator tests || rc=1; \
	echo "== mypy"; $(BIN)/mypy || rc=1; \
	echo "== pytest"; $(BIN)/python -m pytest -q || rc=1; \
	exit $$rc

clean:
	rm -rf $(VENV) $(PYPY_VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.mpy' -type f -delete
