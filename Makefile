# Two entry points for a fresh machine (see README):
#   make demo  - create .venv, install, run the default (offline phantom) pipeline with DVC
#   make test  - create .venv, install (with the optional OpenMMLab backend), run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed-stamp
OPENMMLAB_STAMP := $(VENV)/.openmmlab-stamp
# a folder with a prebuilt mmcv 2.1.0 wheel (see the README); without it mmcv is built from source
MMCV_WHEELS ?= ../shared/wheels
OPENMMLAB_EXTRA := -e ".[dev,openmmlab]"
export PATH := $(BIN):$(PATH)
# no second copy of the ~2.5 GB of wheels in pip's cache: CI's disk once ran out (a fresh clone
# installs once, so the cache would never be read)
export PIP_NO_CACHE_DIR := 1

# The CUDA wheels torch 2.9.1 pulls from the registry are ~2.5 GB; a dropped connection must
# not fail the run, so pip resumes partial downloads and each install is retried twice.
define pip_install
	for attempt in 1 2 3; do \
	  $(BIN)/python -m pip install --quiet --resume-retries 20 $(1) && break; \
	  if [ $$attempt = 3 ]; then echo "pip install failed 3 times (see above)" >&2; exit 1; fi; \
	  echo "pip install failed (attempt $$attempt of 3), retrying in 30 s" >&2; sleep 30; \
	done
endef

.PHONY: demo test install install-openmmlab clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(call pip_install,-e ".[dev]")
	touch $(STAMP)

# mmcv 2.1.0 has no wheel on the registry and its sdist needs torch at build time
# (--no-build-isolation) and setuptools < 70; about 30 minutes on 2 cores.
$(OPENMMLAB_STAMP): $(STAMP)
	@if ls $(MMCV_WHEELS)/mmcv-2.1.0-*.whl >/dev/null 2>&1; then \
	  echo "mmcv 2.1.0: prebuilt wheel from $(MMCV_WHEELS)"; \
	  $(BIN)/python -m pip install --quiet --find-links $(MMCV_WHEELS) mmcv==2.1.0 || exit 1; \
	else \
	  echo "mmcv 2.1.0: no wheel in $(MMCV_WHEELS), building from source (about 30 minutes on 2 cores)"; \
	  $(BIN)/python -m pip install --quiet "setuptools<70" wheel ninja || exit 1; \
	  MAX_JOBS=2 $(BIN)/python -m pip install --quiet --no-build-isolation mmcv==2.1.0 || exit 1; \
	fi
	$(call pip_install,$(OPENMMLAB_EXTRA))
	$(BIN)/python -c 'from benchmark.evaluation.openmmlab import openmmlab_missing as m; assert m() is None, m()'
	touch $(OPENMMLAB_STAMP)

install: $(STAMP)

install-openmmlab: $(OPENMMLAB_STAMP)

demo: $(STAMP)
	$(BIN)/dvc repro
	@echo "Leaderboard written to results/leaderboard.md (and results/leaderboard.csv)"

# one xdist worker per core, each computing in one thread (tests/conftest.py), a test module per
# worker at a time, the long modules first (tests/conftest.py: LONG_MODULES; --no-loadscope-reorder
# keeps that order): on 2 cores 7.4 min against 10.3 min in one process, measured side by side
test: $(OPENMMLAB_STAMP)
	$(BIN)/python -m pytest -q -n auto --dist loadfile --no-loadscope-reorder

clean:
	rm -rf data models results/runs results/leaderboard.md results/leaderboard.csv
