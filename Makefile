# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint clean mutation

demo: $(STAMP)
	$(BIN)/vrt demo

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

# Reinstall when the package metadata changes; the editable install picks up code changes itself.
$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml), outside `make test`'s
# budget: hours for every module on 2 cores. ONLY='vrt.losses.miners.*' restricts it to mutants
# whose names match; a stopped run continues where it stopped. The score table follows.
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,mutation]'
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/mutmut run --max-children 2 $(ONLY)
	$(BIN)/python benchmarks/mutation_score.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
