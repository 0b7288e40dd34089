"""The store build in several processes writes the same bytes as in one, and a bad image found
by a worker is the same one-line error naming the file, with no store left behind."""

from __future__ import annotations

import filecmp
import shutil

import numpy as np
import pytest
from PIL import Image

from benchmark import prepare
from benchmark.core.errors import DataError
from benchmark.data.datasets import get_reader
from benchmark.data.store import build_store

STORE_FILES = ("images.npy", "masks.npy", "manifest.csv", "store.json")


@pytest.fixture(autouse=True)
def _parallel_even_for_small_stores(monkeypatch):
    from benchmark.data import store

    monkeypatch.setattr(store, "MIN_PARALLEL", 0)


@pytest.mark.parametrize("dataset", ["siim", "chexpert"])
def test_two_workers_write_the_same_store_as_one(phantom_root, tmp_path, dataset):
    """SIIM: DICOMs and masks; CheXpert: JPEGs, with one constant image planted (skipped, counted)."""
    root = tmp_path / dataset
    shutil.copytree(phantom_root / dataset, root)
    if dataset == "chexpert":
        first = sorted((root / "train").rglob("*.jpg"))[0]
        Image.fromarray(np.full((64, 64), 77, np.uint8)).save(first)
    one = build_store(get_reader(dataset), root, tmp_path / "one", 48, workers=1)
    two = build_store(get_reader(dataset), root, tmp_path / "two", 48, workers=2)
    assert one == two
    if dataset == "chexpert":
        assert one["skipped"]["constant image (one grey value)"] == 1  # the planted image, counted by either build
    for name in STORE_FILES:
        if (tmp_path / "one" / name).exists() or name != "masks.npy":
            assert filecmp.cmp(tmp_path / "one" / name, tmp_path / "two" / name, shallow=False), name


def test_a_bad_image_in_a_worker_is_one_line_naming_it(phantom_root, tmp_path, capsys):
    from benchmark.core.errors import run_cli

    root = tmp_path / "chexpert"
    shutil.copytree(phantom_root / "chexpert", root)
    bad = sorted((root / "train").rglob("*.jpg"))[-1]
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(SystemExit) as info:
        run_cli(prepare.main, ["--dataset", "chexpert", "--root", str(root), "--out", str(tmp_path / "store"),
                               "--workers", "2", "--profile", "smoke"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # the lines before it are the progress bar's
    assert info.value.code == 2 and "Traceback" not in err and last.startswith("error: ") and str(bad) in last
    assert sum(line.startswith("error: ") for line in err.splitlines()) == 1
    assert not (tmp_path / "store").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_data_error_survives_pickling_whole():
    import pickle

    err = pickle.loads(pickle.dumps(DataError("a/b.csv", "bad cell\nsecond line", row=3)))
    assert isinstance(err, DataError) and str(err) == "a/b.csv, row 3: bad cell second line"
    assert (err.path, err.row, err.problem) == ("a/b.csv", 3, "bad cell second line")


def test_workers_below_one_are_refused(phantom_root, tmp_path):
    with pytest.raises(DataError, match="--workers 0: give at least 1"):
        prepare.main(["--dataset", "chexpert", "--root", str(phantom_root / "chexpert"), "--out", str(tmp_path / "s"),
                      "--workers", "0", "--profile", "smoke"])
