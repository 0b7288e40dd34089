"""Helpers shared by test modules (importable because tests/ is on sys.path under pytest)."""

import numpy as np
import pytest

from benchmark.core.errors import DataError


def data_error(fn, *args, **kwargs) -> str:
    """Call ``fn`` expecting a DataError; check the message is a single line and return it."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def assert_same_files(a, b, count: int) -> None:
    """Folders ``a`` and ``b`` hold the same ``count`` files, byte for byte."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == count
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def copy_pipeline(work, dst) -> None:
    """A copy of a smoke pipeline folder whose DVC cache files are hard links: DVC never writes into
    a cache file (new content gets a new name), and copying the cache would cost 0.7 GB of disk."""
    import os
    import shutil

    def link_cache(src: str, target: str) -> None:
        if f"{os.sep}.dvc{os.sep}cache{os.sep}" in src:
            os.link(src, target)
        else:
            shutil.copy2(src, target)

    shutil.copytree(work, dst, symlinks=True, copy_function=link_cache)


def head_inputs(phantom_root, work, dataset: str):
    """A smoke store (``work/stores/<dataset>``), its MGCA split manifest
    (``work/splits/<dataset>/mgca.csv``) and a seeded random encoder (``work/encoder``):
    what a segmentation or detection head run needs."""
    import torch

    from benchmark import prepare, splits
    from benchmark.pretraining.encoders import ImageEncoder, save_encoder

    assert prepare.main(["--dataset", dataset, "--root", str(phantom_root / dataset),
                         "--out", str(work / "stores" / dataset), "--profile", "smoke"]) == 0
    assert splits.main(["write", "--dataset", dataset, "--protocol", "mgca", "--root", str(phantom_root / dataset),
                        "--out", str(work / "splits" / dataset / "mgca.csv")]) == 0
    torch.manual_seed(0)
    save_encoder(ImageEncoder("resnet18"), work / "encoder", {"method": "random"})
    return work


def head_sources(work, dataset: str, size: int):
    """Store, frozen encoder and train/valid map sources (100 %, maps precomputed) of ``head_inputs``."""
    from benchmark.data.store import Store
    from benchmark.evaluation.downstream import EncoderMaps, FrozenEncoder, MapSource, split_rows

    store = Store.open(work / "stores" / dataset)
    rows = split_rows(store, work / "splits" / dataset / "mgca.csv", 100)
    frozen = FrozenEncoder.load(work / "encoder")
    maps = EncoderMaps(frozen, store.images, size, np.concatenate([rows["train"], rows["valid"]]))
    return store, frozen, {s: MapSource(maps, rows[s]) for s in ("train", "valid")}


def head_cli_args(work, dataset: str, out, *extra: str) -> list[str]:
    """Command line of a head run on ``head_inputs``."""
    return ["--method", "random", "--datasets", dataset, "--encoder", str(work / "encoder"),
            "--stores", str(work / "stores"), "--splits", str(work / "splits"), "--out", str(out), *extra]


def manifest_rows(work, dataset: str, split: str, fraction: int = 100) -> list[int]:
    """Store rows of one split (and training fraction) of ``head_inputs``' manifests, read with
    pandas alone: the independent answer to "which rows does this stage use"."""
    import pandas as pd

    manifest = pd.read_csv(work / "stores" / dataset / "manifest.csv", dtype={"id": str})
    splits = pd.read_csv(work / "splits" / dataset / "mgca.csv", dtype={"id": str})
    keep = splits["split"].eq(split)
    if split == "train":
        keep &= splits["min_fraction"].le(fraction)
    row_of_id = dict(zip(manifest["id"], range(len(manifest))))
    return sorted(row_of_id[i] for i in splits.loc[keep, "id"])
