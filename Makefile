# paycore: two targets do all the set-up on a fresh machine.
#   make demo   runs paycore's main job (a scripted shop day, ending with every invariant)
#   make test   runs the whole suite: ruff, the import contracts, mypy --strict on src/, pytest
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test quick lint typecheck unit docs bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/paycore demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy --strict src/paycore src/adapters

# worksteal: the harness's long tests (an exhaustive search per scenario) are spread over
# the workers as they free up; the slowest tests are listed at the end.
unit: $(STAMP)
	$(VENV)/bin/pytest -n auto --dist worksteal --durations=15

test: lint typecheck unit

# While working: everything but the slow tests of the harness itself (CI runs make test).
quick: $(STAMP)
	$(VENV)/bin/pytest -n auto -m "not slow"

docs: $(STAMP)
	$(VENV)/bin/python -m paycore_adapters.docgen

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/core_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
