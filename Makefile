# Two set-up commands on a fresh machine: `make train` and `make test`.
# Both create .venv and install the pinned project (idempotent: a stamp file skips reinstalling).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
export WANDB_MODE ?= offline
export WANDB_SILENT ?= true
export HYDRA_FULL_ERROR ?= 1

.PHONY: install train test test-fast lint bench compare clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	rm -f $(VENV)/.installed-* && touch $@

train: install
	$(PY) -m adaptive_st.train $(ARGS)

test: install
	$(PY) -m pytest -q $(ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not slow" $(ARGS)

lint: install
	$(VENV)/bin/ruff check adaptive_st tests experiments

bench: install
	$(PY) experiments/benchmark.py --preset cpu $(ARGS)

compare: install
	$(PY) experiments/compare_policies.py --preset small $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
