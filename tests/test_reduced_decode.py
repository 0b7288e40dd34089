"""Reduced-size JPEG decoding for the store (``store.decode: reduced``): where the codec cannot
reduce, the pixels are the full decode's; where it can, the geometry (placement, boxes, full size)
is the full decode's and the pixels differ by a measured amount."""

from __future__ import annotations

import filecmp
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.core.errors import DataError
from benchmark.data.datasets import get_reader
from benchmark.data.imaging import read_image_reduced, read_image_uint8
from benchmark.data.store import build_store


def _film(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return (128 + 100 * np.sin(xx / 37.0) * np.cos(yy / 23.0)).astype(np.uint8)


def test_png_and_small_jpeg_decode_in_full(tmp_path):
    pixels = _film(300, 200)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=95)
    reduced, full = read_image_reduced(tmp_path / "a.png", 64)
    assert full == (300, 200) and (reduced == pixels).all()
    # 200 px wide: half of it (100) is still >= 64, so a JPEG is reduced; with 128 it is not
    reduced, full = read_image_reduced(tmp_path / "a.jpg", 128)
    assert full == (300, 200) and (reduced == read_image_uint8(tmp_path / "a.jpg")).all()


@pytest.mark.parametrize(("min_side", "shape"), [(64, (375, 313)), (320, (750, 625)), (700, (1500, 1250)),
                                                 (1300, (3000, 2500))])
def test_a_film_is_reduced_by_the_largest_factor_that_keeps_min_side(tmp_path, min_side, shape):
    """A 3,000 x 2,500 film: 1/8 (ceil) of each side for a 64 px store, 1/4 for 320 (313 < 320),
    1/2 for 700, in full for 1,300."""
    Image.fromarray(_film(3000, 2500)).save(tmp_path / "film.jpg", quality=95)
    reduced, full = read_image_reduced(tmp_path / "film.jpg", min_side)
    assert full == (3000, 2500) and reduced.shape == shape and reduced.dtype == np.uint8


def test_a_missing_or_broken_jpeg_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    for name in ("bad.jpg", "missing.jpg"):
        with pytest.raises(DataError, match=name):
            read_image_reduced(tmp_path / name, 64)


def test_reduced_store_keeps_the_full_decodes_geometry(phantom_root, tmp_path):
    """Object-CXR (JPEGs with boxes), every film re-saved at 8x its phantom size: boxes, full sizes
    and the padding of every image equal the full decode's; two workers write the same bytes."""
    from benchmark.data import store

    root = tmp_path / "object_cxr"
    shutil.copytree(phantom_root / "object_cxr", root)
    for path in sorted(root.rglob("*.jpg")):
        with Image.open(path) as img:
            big = img.convert("L").resize((img.width * 8, img.height * 8), Image.BILINEAR)
        big.save(path, quality=95)
    full = build_store(get_reader("object_cxr"), root, tmp_path / "full", 48)
    reduced = build_store(get_reader("object_cxr"), root, tmp_path / "reduced", 48, decode="reduced")
    assert (full["decode"], reduced["decode"]) == ("full", "reduced") and full["count"] == reduced["count"]
    a = pd.read_csv(tmp_path / "full" / "manifest.csv").drop(columns="pixel_sha256")
    b = pd.read_csv(tmp_path / "reduced" / "manifest.csv").drop(columns="pixel_sha256")
    pd.testing.assert_frame_equal(a, b)
    assert sum(bool(json.loads(b)) for b in a["boxes"]) > 50 and (a["orig_width"] >= 800).all()
    x = np.load(tmp_path / "full" / "images.npy").astype(int)
    y = np.load(tmp_path / "reduced" / "images.npy").astype(int)
    # measured on this data (2026-12-02): zero pixels in the same places 99.93 %, mean |difference| 0.25
    # grey levels, largest 3 (libjpeg's DCT scaling, then the same bilinear resize); bounds ~3x those
    assert ((x == 0) == (y == 0)).mean() > 0.998
    assert np.abs(x - y).mean() < 0.75 and np.abs(x - y).max() <= 9
    store.MIN_PARALLEL = 0
    try:
        build_store(get_reader("object_cxr"), root, tmp_path / "two", 48, workers=2, decode="reduced")
    finally:
        store.MIN_PARALLEL = 1000
    for name in ("images.npy", "manifest.csv", "store.json"):
        assert filecmp.cmp(tmp_path / "reduced" / name, tmp_path / "two" / name, shallow=False), name


def test_an_unknown_decode_mode_is_refused_before_reading(tmp_path):
    with pytest.raises(DataError, match="store decode 'draft' is not one of full, reduced"):
        build_store(get_reader("chexpert"), tmp_path / "nowhere", tmp_path / "out", 48, decode="draft")
    assert not (tmp_path / "out").exists()
