# Two commands for a fresh clone: `make demo` and `make test`.
# Each bootstraps its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := edge,hub,signage,dev
# Two pytest workers: most tests wait on servers, brokers and subprocesses, so two
# processes on two cores take half the time of one. `make pytest PYTEST_ARGS=-n0` runs
# them in one process.
PYTEST_ARGS ?= -n 2 --dist worksteal

.PHONY: demo test lint typecheck contracts pytest venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pacs demo

test: $(STAMP) lint typecheck contracts pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy shared edge_gateway hub kiosk signage provisioning

contracts: $(STAMP)
	$(BIN)/lint-imports

pytest: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/worklist.py
	$(BIN)/python bench/sync_drain.py
	$(BIN)/python bench/hub_search.py
	$(BIN)/python bench/queue_calls.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
