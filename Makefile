# Two commands: `make run` opens the explorer, `make test` runs every check. Both start with
# `make install`: a virtualenv in .venv, the package, then `explorer warmup`, which compiles every
# model's numba kernels once into numba's on-disk cache so that no first Run waits for them.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
WARM_STAMP := $(VENV)/.warm
# The warm-up is redone when a kernel's source changes (numba's cache is keyed by the sources).
KERNEL_SOURCES := $(wildcard explorer/models/*.py) explorer/layout.py explorer/textformat.py

.PHONY: install run test lint format clean bench check-window

install: $(WARM_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

$(WARM_STAMP): $(STAMP) $(KERNEL_SOURCES)
	$(BIN)/explorer warmup
	touch $@

# The window's system libraries are checked before the warm-up, so a machine without them learns it
# in a second (with the command that installs them), not after the kernels compiled.
check-window: $(STAMP)
	$(BIN)/python -m explorer.platform_check

run: check-window install
	$(BIN)/explorer gui sample_data/old_faithful.csv --model gmm --K 2

# ruff format checks every Python file and the README's and docs' ```python blocks (`.`: a new
# folder is covered without being named); what it leaves out is said in pyproject.toml.
lint: $(TEST_STAMP)
	$(BIN)/ruff check explorer tests bench
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# Lays the code out as `make lint` checks it.
format: $(TEST_STAMP)
	$(BIN)/ruff format .

test: lint install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

bench: $(TEST_STAMP)
	@echo "Benchmarks are run by hand: $(BIN)/python bench/<name>.py"

clean:
	rm -rf $(VENV) build *.egg-info
	find explorer -name '*.nbi' -delete -o -name '*.nbc' -delete
