# Two commands for a fresh machine: `make demo` (a quick rate–distortion sweep on the embedded
# digits, with its plot and table) and `make test` (lint and the test suite). Each creates the
# virtual environment .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rdframe-installed

.PHONY: demo test test-slow lint bench mutation clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rdframe sweep experiment=quickstart hydra.sweep.dir=sweeps/quickstart

test: $(STAMP) lint
	WANDB_MODE=offline $(BIN)/python -m pytest

test-slow: $(STAMP)
	WANDB_MODE=offline $(BIN)/python -m pytest -m slow

# Plant each mutant of tests/mutation/mutants.py in a copy of the project, run its tests, and
# write the kill rate and the survivors to tests/mutation/RESULTS.md (about half an hour on two
# cores; not part of `make test`). Needs nothing beyond the test extra.
mutation: $(STAMP)
	$(BIN)/python tests/mutation/run.py --write tests/mutation/RESULTS.md

# The benchmark suite (training throughput against a plain loop and pythae where it is
# installed, IWAE speed and memory, start-up times, the machine's matmul peak) into
# benchmarks/results/bench.{json,md}; BENCH_ARGS=--quick for a short run, --components for
# every family. Figures, not tests: nothing asserts a time.
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check rdframe tests benchmarks experiments

clean:
	rm -rf $(VENV) runs sweeps outputs multirun
