# Two entry points for a fresh machine (see README):
#   make demo  - create .venv, install, run the default (offline phantom) pipeline with DVC
#   make test  - create .venv, install, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(BIN):$(PATH)

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# The CUDA wheels torch 2.9.1 pulls from the registry are ~2.5 GB; a dropped connection must
	@# not fail the run, so pip resumes partial downloads and the whole install is retried twice.
	for attempt in 1 2 3; do \
	  $(BIN)/python -m pip install --quiet --resume-retries 20 -e ".[dev]" && break; \
	  if [ $$attempt = 3 ]; then echo "pip install failed 3 times (see above)" >&2; exit 1; fi; \
	  echo "pip install failed (attempt $$attempt of 3), retrying in 30 s" >&2; sleep 30; \
	done
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dvc repro
	@echo "Leaderboard written to results/leaderboard.md (and results/leaderboard.csv)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf data models results/runs results/leaderboard.md results/leaderboard.csv
