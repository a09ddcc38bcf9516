# One-command set-up: `make run` opens the explorer, `make test` runs every check.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint clean bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP) $@

run: $(STAMP)
	$(BIN)/explorer gui sample_data/old_faithful.csv --model gmm --K 2

lint: $(TEST_STAMP)
	$(BIN)/ruff check explorer tests bench
	$(BIN)/lint-imports

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: $(TEST_STAMP)
	@echo "Benchmarks are run by hand: $(BIN)/python bench/<name>.py"

clean:
	rm -rf $(VENV) build *.egg-info
