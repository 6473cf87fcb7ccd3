# paycore: two targets do all the set-up on a fresh machine.
#   make demo   runs paycore's main job (a scripted shop day, ending with every invariant)
#   make test   runs the whole suite: ruff, the import contracts, mypy --strict on src/, pytest
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Python's default: compiled modules are cached in __pycache__ (git ignores them). A
# machine that turns this off makes every test worker, and every paycore process a test
# starts, compile src/ and rewrite the tests' asserts again on every run.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test quick lint typecheck unit timings docs bench clean

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
	$(TYPECHECK_PREFIX) $(VENV)/bin/mypy --strict src/paycore src/adapters

# worksteal: the harness's long tests (an exhaustive search per scenario) are spread over
# the workers as they free up, the longest started first (tests/timings.json, written by
# `make timings`); the slowest tests are listed at the end.
unit: $(STAMP)
	$(VENV)/bin/pytest -n auto --dist worksteal --durations=15

# The type check runs beside the tests, niced: one process that takes the time the test
# workers leave (a worker waiting on a server, the last tests of the run). Either failing
# fails the target, once both have finished.
test: lint
	@$(MAKE) --no-print-directory -j2 typecheck unit TYPECHECK_PREFIX="nice -n 10"

# Measure a whole run and write the order its long tests start in (tests/timings.json).
timings: $(STAMP)
	$(VENV)/bin/pytest -n auto --dist worksteal --timings-out tests/timings.json

# While working: everything but the slow tests of the harness itself (CI runs make test).
quick: $(STAMP)
	$(VENV)/bin/pytest -n auto -m "not slow"

docs: $(STAMP)
	$(VENV)/bin/python -m paycore_adapters.docgen

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/core_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
