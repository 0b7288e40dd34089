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
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dvc repro
	@echo "Leaderboard written to results/leaderboard.md (and results/leaderboard.csv)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf data models results/runs results/leaderboard.md results/leaderboard.csv
