# Two commands do all the set-up on a fresh machine (Python >= 3.10 with venv):
#   make quickstart   creates .venv, installs odma-sim, runs configs/quickstart.yaml
#   make test         creates .venv, installs odma-sim with dev tools, runs ruff, mypy, pytest
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: quickstart test bench clean

quickstart: $(STAMP)
	$(BIN)/odma-sim run configs/quickstart.yaml

test: $(STAMP)
	$(BIN)/ruff check odma_sim tests benchmarks traces
	$(BIN)/mypy odma_sim
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/speed.py

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
