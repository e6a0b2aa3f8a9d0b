# `make demo` and `make test` work on a fresh machine: each creates or refreshes .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NATIVE_SRC := $(wildcard src/jaga/*/*.c)
NATIVE_STAMP := $(VENV)/.native-stamp

.PHONY: venv native test lint typecheck pytest demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.0.1
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(NATIVE_STAMP)

# Rebuild the C extensions in place whenever a C source changes.
native: $(NATIVE_STAMP)

$(NATIVE_STAMP): $(STAMP) $(NATIVE_SRC) setup.py
	$(BIN)/python setup.py --quiet build_ext --inplace
	touch $(NATIVE_STAMP)

lint: native
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: native
	$(BIN)/mypy --strict src

pytest: native
	$(BIN)/pytest -n 2 -q

test: lint typecheck pytest

demo: native
	$(BIN)/python -m jaga.demo

bench: native
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/hashing.py
	$(BIN)/python benchmarks/index.py

clean:
	rm -rf build $(VENV) src/jaga/*/*.so
