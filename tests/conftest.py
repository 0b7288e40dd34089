"""Shared fixtures: a smoke-profile phantom copy written once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmark.core.config import load_profile
from benchmark.data.datasets import WRITERS

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``) the cores are shared out between the
    workers: each worker, and every stage process it starts (benchmark.core.numerics.thread_count
    reads ``OMP_NUM_THREADS``), computes in cores // workers threads. Two workers of two threads each
    on two cores would spin in each other's OpenMP barriers."""
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


#: the modules that take longest (``pytest --durations``: the DVC smoke run's module fixture alone is
#: ~4 of the suite's ~10 serial minutes), started first so that under xdist the other worker works
#: through the many short modules beside them instead of waiting at the end for the last long one
LONG_MODULES = ("test_pipeline.py", "test_pretrain_engine.py", "test_paper_dry_run.py")


def pytest_collection_modifyitems(config, items) -> None:
    def rank(item) -> int:
        name = item.path.name
        return LONG_MODULES.index(name) if name in LONG_MODULES else len(LONG_MODULES)

    items.sort(key=rank)  # stable: the order within a module and among the others is kept


_TORCH_THREADS = None


@pytest.fixture(autouse=True)
def _torch_defaults():
    """Stage entry points run in-process set torch's default dtype and thread count for their
    profile (benchmark.core.numerics.configure), also inside module fixtures; every test starts from
    float32 and the session's thread count, so that none depends on the order it runs in."""
    import torch

    global _TORCH_THREADS
    _TORCH_THREADS = _TORCH_THREADS or torch.get_num_threads()
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(_TORCH_THREADS)
    yield
    torch.set_default_dtype(torch.float32)  # also for the next module's fixtures, set up before its first test
    torch.set_num_threads(_TORCH_THREADS)


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory):
    """Folders a test module shares between its tests, removed when the module ends (pytest keeps
    module folders to the end of the session, and models and DVC caches summed to 8.5 GB: a CI run
    failed with its disk full). A module with a failed test keeps its folders for reading."""
    made: list[Path] = []
    failed_before = _FAILURES[0]

    def make(name: str) -> Path:
        made.append(tmp_path_factory.mktemp(name))
        return made[-1]

    yield make
    if _FAILURES[0] == failed_before:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


_FAILURES = [0]  # failed test phases so far in this session

def pytest_runtest_logreport(report) -> None:
    if report.failed:
        _FAILURES[0] += 1


@pytest.fixture(scope="session")
def smoke_profile() -> dict:
    return load_profile(REPO / "params.yaml", "smoke")


#: a folder in which the session's phantom copy is kept between pytest sessions (the mutation run
#: starts thousands of sessions: writing the phantom each time was most of a mutant's seconds)
PHANTOM_CACHE_ENV = "MEDVLP_TEST_PHANTOM_CACHE"


def _write_phantom(root: Path, spec: dict) -> None:
    for name, settings in spec["datasets"].items():
        (root / name).mkdir()
        WRITERS[name](root / name, seed=spec["seed"], image_size=spec["image_size"], **settings)


@pytest.fixture(scope="session")
def phantom_root(tmp_path_factory, smoke_profile) -> Path:
    """Phantom copies of every dataset (smoke sizes) in their raw layouts. Tests only read it (a test
    that corrupts data works on a copy: ``rsna_copy``, ``mimic_copy``). With ``MEDVLP_TEST_PHANTOM_CACHE``
    set, it is written once into that folder, under a key of the phantom settings and writers' code."""
    import hashlib
    import json
    import os

    spec = smoke_profile["phantom"]
    cache = os.environ.get(PHANTOM_CACHE_ENV)
    if not cache:
        root = tmp_path_factory.mktemp("phantom")
        _write_phantom(root, spec)
        return root
    code = b"".join(p.read_bytes() for p in sorted((REPO / "benchmark" / "data" / "phantom").glob("*.py")))
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode() + code).hexdigest()[:16]
    root = Path(cache) / key
    if not root.is_dir():
        tmp = Path(cache) / f".{key}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _write_phantom(tmp, spec)
        try:
            tmp.rename(root)
        except OSError:  # another session wrote it first
            shutil.rmtree(tmp, ignore_errors=True)
    return root


@pytest.fixture
def rsna_copy(phantom_root, tmp_path) -> Path:
    """A private, writable copy of the phantom RSNA set (for corrupting in a test)."""
    dst = tmp_path / "rsna"
    shutil.copytree(phantom_root / "rsna", dst)
    return dst


@pytest.fixture
def mimic_copy(phantom_root, tmp_path) -> Path:
    dst = tmp_path / "mimic"
    shutil.copytree(phantom_root / "mimic", dst)
    return dst
