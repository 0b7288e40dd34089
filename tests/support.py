"""Helpers shared by test modules (importable because tests/ is on sys.path under pytest)."""

import pytest

from benchmark.errors import DataError


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


def head_inputs(phantom_root, work, dataset: str):
    """A smoke store, its MGCA split manifest and a seeded random encoder in ``work``: what a
    segmentation or detection head needs."""
    import torch

    from benchmark import prepare, splits
    from benchmark.encoders import ImageEncoder, save_encoder

    assert prepare.main(["--dataset", dataset, "--root", str(phantom_root / dataset), "--out", str(work / "store"),
                         "--profile", "smoke"]) == 0
    assert splits.main(["write", "--dataset", dataset, "--protocol", "mgca", "--root", str(phantom_root / dataset),
                        "--out", str(work / "splits.csv")]) == 0
    torch.manual_seed(0)
    save_encoder(ImageEncoder("resnet18"), work / "encoder", {"method": "random"})
    return work
