"""SIIM-ACR Pneumothorax: RLE codec, label table, reader, phantom writer and store masks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from support import data_error

from benchmark.data.phantom.siim import (
    SIIM_ORIGINAL_SIZE,
    downsample_mask,
    real_siim_labels,
    write_siim,
)
from benchmark.data.phantom.sources import txv_data_file
from benchmark.data.readers.siim import LABEL_FILE, SiimPneumothoraxReader, siim_label_table
from benchmark.data.rle import (
    RleError,
    is_negative,
    parse_rle,
    rle_decode,
    rle_encode,
    rle_union,
)
from benchmark.data.store import Store, build_store

PHANTOM_IMAGES = 200
PHANTOM_SIZE = 128




def _write_csv(path: Path, rows: list[tuple[str, str]], header: str = "ImageId, EncodedPixels") -> Path:
    path.write_text("\n".join([header] + [f"{i},{v}" for i, v in rows]) + "\n")
    return path


# ---------------------------------------------------------------- RLE codec


def test_rle_decode_hand_example():
    # 4x4, column-major: flat index = x * 4 + y. Runs: flat 3..5 (gap 3, length 3), then flat 13..15
    # (gap 13 - 6 = 7 after the first run's end, length 3).
    expected = np.array([
        [0, 1, 0, 0],
        [0, 1, 0, 1],
        [0, 0, 0, 1],
        [1, 0, 0, 1],
    ], dtype=bool)
    assert (rle_decode("3 3 7 3", 4, 4) == expected).all()
    assert rle_encode(expected) == "3 3 7 3"
    # the first start is a 0-based index; column-major puts flat 1 below flat 0, not beside it
    assert np.argwhere(rle_decode("0 1", 4, 4)).tolist() == [[0, 0]]
    assert np.argwhere(rle_decode("1 1", 4, 4)).tolist() == [[1, 0]]
    # non-square: height 2, width 3 -> flat 2 is (y=0, x=1)
    assert np.argwhere(rle_decode("2 1", 2, 3)).tolist() == [[0, 1]]
    starts, lengths = parse_rle(" 3 3 7 3")
    assert starts.tolist() == [3, 13] and lengths.tolist() == [3, 3]


def test_rle_round_trip_random_masks():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 40, size=2))
        mask = rng.random((h, w)) < rng.uniform(0, 1)
        text = rle_encode(mask)
        assert (rle_decode(text, h, w) == mask).all()
        assert (text == "-1") == (not mask.any())
    full = np.ones((5, 7), dtype=bool)
    assert rle_encode(full) == "0 35" and rle_decode("0 35", 5, 7).all()
    assert rle_encode(np.zeros((3, 3), bool)) == "-1" and not rle_decode("-1", 3, 3).any()


def test_rle_union_of_rows():
    a, b = "0 2", "5 3"  # flat 0..1 and flat 5..7
    union = rle_union([a, b, " -1"], 4, 4)
    assert np.flatnonzero(union.ravel(order="F")).tolist() == [0, 1, 5, 6, 7]
    assert (rle_union([a, a], 4, 4) == rle_decode(a, 4, 4)).all()  # overlap is fine


def test_negative_label_with_and_without_space():
    assert is_negative("-1") and is_negative(" -1") and is_negative(" -1 ")
    assert not is_negative(" 1 -1") and not is_negative("0 1")


@pytest.mark.parametrize(("text", "problem"), [
    ("1 2 3", "odd number"),
    ("1 x", "not integer pairs"),
    ("1.5 2", "not integer pairs"),
    ("", "empty"),
    ("4 0", "positive"),
    ("-3 2", "negative"),
])
def test_malformed_rle(text, problem):
    with pytest.raises(RleError, match=problem):
        parse_rle(text)


def test_negative_label_parses_to_empty_integer_runs():
    starts, lengths = parse_rle(" -1")
    assert starts.dtype == lengths.dtype == np.int64 and starts.shape == lengths.shape == (0,)


@pytest.mark.parametrize(("text", "what"), [
    ("1 2 x 4", "token 'x'"),          # the first token that is not an integer is named
    ("1 2\n3 4", "numbers must be separated by spaces"),  # every token an integer, but a newline
    ("1 " + "x" * 30, "token '" + "x" * 20 + "'"),  # a long bad token is cut to 20 characters
])
def test_malformed_rle_names_what_is_wrong(text, what):
    with pytest.raises(RleError) as error:
        parse_rle(text)
    assert str(error.value) == f"EncodedPixels is not integer pairs ({what})"


def test_rle_encode_of_a_label_image_is_that_of_its_foreground():
    """A mask holding region labels (1, 2, ...) encodes as its foreground, not one run per label."""
    labels = np.zeros((4, 5), np.uint8)
    labels[1:3, 1] = 1
    labels[3, 1] = labels[0:2, 2] = 2  # touching region 1 in column-major order: one run of 5
    assert rle_encode(labels) == rle_encode(labels > 0) == "5 5"


def test_run_past_end_of_image():
    assert rle_decode("14 2", 4, 4).sum() == 2  # ends exactly at pixel 16: fine
    with pytest.raises(RleError, match="past the end"):
        rle_decode("14 3", 4, 4)


# ---------------------------------------------------------------- label table


def test_label_table_leading_spaces(tmp_path):
    path = _write_csv(tmp_path / LABEL_FILE, [("a", " -1"), ("b", "-1"), ("c", " 1 2"), ("c", " 5 1"),
                                              ("d", " -1"), ("d", "-1")])
    table = siim_label_table(path).set_index("id")
    assert table["target"].to_dict() == {"a": 0, "b": 0, "c": 1, "d": 0}
    assert table.loc["c", "rle"] == "1 2|5 1" and table.loc["c", "label_rows"] == "4|5"
    assert table.loc["d", "label_row"] == 6
    assert (table.index == table["group"]).all() and set(table["official_split"]) == {"train"}
    assert table["strat"].tolist() == ["0", "0", "1", "0"]


def test_label_table_only_negatives_stays_text(tmp_path):
    # pandas would read an all "-1" column as integers; the table must not care
    path = _write_csv(tmp_path / LABEL_FILE, [("a", "-1"), ("b", " -1")])
    assert siim_label_table(path)["target"].tolist() == [0, 0]


def test_label_table_bad_rle_names_file_and_row(tmp_path):
    path = _write_csv(tmp_path / LABEL_FILE, [("a", " -1"), ("b", " 1 2"), ("c", " 3 x")])
    msg = data_error(siim_label_table, path)
    assert LABEL_FILE in msg and "row 4" in msg and "integer pairs" in msg and "image c" in msg


def test_label_table_missing_column(tmp_path):
    path = _write_csv(tmp_path / LABEL_FILE, [("a", "-1")], header="ImageId, Pixels")
    msg = data_error(siim_label_table, path)
    assert LABEL_FILE in msg and "EncodedPixels" in msg


def test_real_label_file():
    """torchxrayvision's copy of the real train-rle.csv: 12,954 rows, 12,047 images, 2,669 positive."""
    path = txv_data_file("siim-pneumothorax-train-rle.csv.gz")
    raw = real_siim_labels()
    assert len(raw) == 12_954
    table = siim_label_table(path)
    assert len(table) == table["id"].nunique() == 12_047
    assert int(table["target"].sum()) == 2_669
    several = table["label_rows"].str.contains("|", regex=False)
    assert int(several.sum()) == 624
    assert (table.loc[several, "target"] == 1).all()  # only pneumothoraces are split into regions


def test_real_masks_follow_the_siim_conventions():
    """Decoded real masks sit where pneumothoraces do: apical/lateral, on both sides, off the spine.

    Transposing (row-major) would put 78% of masks on one side of the film; reading the
    starts as absolute would make them decrease, which never happens in the real file.
    """
    raw = real_siim_labels()
    positive = raw.loc[~raw["EncodedPixels"].map(is_negative), "EncodedPixels"].to_numpy()
    assert len(positive) == 3_576
    n = SIIM_ORIGINAL_SIZE
    for value in positive:  # every run ends inside the 1024 x 1024 film
        starts, lengths = parse_rle(value)
        assert starts[-1] + lengths[-1] <= n * n
    # raw starts are relative offsets: as absolute positions they would have to increase
    increasing = sum(bool((np.diff(np.array(v.split(), dtype=np.int64)[0::2]) > 0).all())
                     for v in positive if len(v.split()) > 2)
    assert increasing == 0
    sample = np.random.default_rng(0).choice(positive, size=300, replace=False)
    cx, cy = [], []
    grid = (np.arange(n) + 0.5) / n
    for value in sample:
        mask = rle_decode(value, n, n)
        area = mask.sum()
        cx.append(float(mask.sum(axis=0) @ grid / area))
        cy.append(float(mask.sum(axis=1) @ grid / area))
    cx_arr, cy_arr = np.array(cx), np.array(cy)
    assert 0.35 < (cx_arr < 0.5).mean() < 0.65  # both lungs
    assert (cy_arr < 0.5).mean() > 0.7  # mostly apical
    assert ((cx_arr > 0.1) & (cx_arr < 0.9)).mean() > 0.97  # inside the chest, not at the film's edge


# ---------------------------------------------------------------- phantom and reader


@pytest.fixture(scope="module")
def siim_phantom(module_dir) -> tuple[Path, pd.DataFrame]:
    root = module_dir("siim")
    written = write_siim(root, seed=3, image_size=PHANTOM_SIZE, images=PHANTOM_IMAGES)
    return root, written


@pytest.fixture(scope="module")
def siim_store(siim_phantom, module_dir) -> Store:
    out = module_dir("siim_store") / "store"
    build_store(SiimPneumothoraxReader(), siim_phantom[0], out, PHANTOM_SIZE)
    return Store.open(out)


@pytest.fixture
def siim_copy(siim_phantom, tmp_path) -> Path:
    """A private, writable copy of the phantom (for corrupting in a test)."""
    dst = tmp_path / "siim"
    shutil.copytree(siim_phantom[0], dst)
    return dst


def test_phantom_label_file_is_in_the_original_format(siim_phantom):
    root, written = siim_phantom
    lines = (root / LABEL_FILE).read_text().splitlines()
    assert lines[0] == "ImageId, EncodedPixels"
    assert all(re.fullmatch(r"[0-9.]+, (-1|[0-9]+( [0-9]+)*)", line) for line in lines[1:])
    real = real_siim_labels()
    chosen = set(written["ImageId"])
    assert len(chosen) == PHANTOM_IMAGES
    # one written row per real row, so multi-region images stay multi-row
    real_counts = real[real["ImageId"].isin(chosen)]["ImageId"].value_counts().sort_index()
    assert written["ImageId"].value_counts().sort_index().tolist() == real_counts.tolist()
    assert (real_counts > 1).any()


def test_reader_on_phantom(siim_phantom):
    root, written = siim_phantom
    frame = SiimPneumothoraxReader().records(root)
    assert len(frame) == frame["id"].nunique() == PHANTOM_IMAGES
    real = real_siim_labels()
    real = real[real["ImageId"].isin(set(frame["id"]))]
    real_positive = real.groupby("ImageId")["EncodedPixels"].agg(lambda s: int(not all(map(is_negative, s))))
    assert frame.set_index("id")["target"].sort_index().tolist() == real_positive.sort_index().tolist()
    assert 0 < frame["target"].sum() < PHANTOM_IMAGES
    uid = r"1\.2\.276\.0\.7230010\.3\.1\.{}\.[0-9.]+"
    pattern = rf"dicom-images-train/{uid.format(2)}/{uid.format(3)}/{uid.format(4)}\.dcm"
    assert frame["path"].str.fullmatch(pattern).all()
    assert (frame["path"].map(lambda p: Path(p).stem) == frame["id"]).all()
    # group is the header's PatientID, not the ImageId
    first = frame.iloc[0]
    header = pydicom.dcmread(root / first["path"], stop_before_pixels=True)
    assert first["group"] == header.PatientID != first["id"]
    assert header.SOPInstanceUID == first["id"]
    assert frame.attrs["skipped"] == {}


def test_store_masks_exactly_for_positives(siim_store, siim_phantom):
    store = siim_store
    assert store.masks is not None and store.masks.shape == (PHANTOM_IMAGES, PHANTOM_SIZE, PHANTOM_SIZE)
    has_mask = store.masks.reshape(PHANTOM_IMAGES, -1).max(axis=1) == 1
    assert (has_mask == (store.manifest["target"] == 1).to_numpy()).all()
    assert (store.manifest["orig_height"] == PHANTOM_SIZE).all()
    # the store mask is the union of the real rows' masks shrunk to the phantom size
    real = real_siim_labels().groupby("ImageId")["EncodedPixels"].agg(list)
    positives = np.flatnonzero(has_mask)
    for i in positives[:8]:
        expected = np.zeros((PHANTOM_SIZE, PHANTOM_SIZE), dtype=bool)
        for value in real[store.manifest["id"].iloc[i]]:
            expected |= downsample_mask(rle_decode(value, 1024, 1024), PHANTOM_SIZE)
        assert (store.masks[i].astype(bool) == expected).all()
    # the pneumothorax is visible: darker inside the mask than in a ring just outside it
    darker = []
    for i in positives:
        mask = store.masks[i].astype(bool)
        ring = mask.copy()
        for _ in range(3):
            ring = ring | np.roll(ring, 1, 0) | np.roll(ring, -1, 0) | np.roll(ring, 1, 1) | np.roll(ring, -1, 1)
        ring &= ~mask
        image = store.images[i].astype(np.float64)
        darker.append(image[ring].mean() > image[mask].mean() + 2)
    assert np.mean(darker) > 0.9


def test_downsample_keeps_tiny_regions():
    mask = np.zeros((1024, 1024), dtype=bool)
    mask[100:103, 200:202] = True  # 6 px: under half of any 8 x 8 cell
    small = downsample_mask(mask, 128)
    assert small.sum() == 1 and small[12, 25]


# ---------------------------------------------------------------- malformed raw copies


def test_missing_column_names_file(siim_copy):
    path = siim_copy / LABEL_FILE
    path.write_text(path.read_text().replace("ImageId, EncodedPixels", "ImageId, Pixels", 1))
    msg = data_error(SiimPneumothoraxReader().records, siim_copy)
    assert LABEL_FILE in msg and "EncodedPixels" in msg


def test_missing_image_names_file_and_row(siim_copy):
    lines = (siim_copy / LABEL_FILE).read_text().splitlines()
    victim = lines[3].split(",")[0]  # the record on line 4 of the file
    first_line = next(n for n, line in enumerate(lines, start=1) if line.startswith(victim + ","))
    next(siim_copy.rglob(f"{victim}.dcm")).unlink()
    msg = data_error(SiimPneumothoraxReader().records, siim_copy)
    assert LABEL_FILE in msg and victim in msg and "missing" in msg and f"row {first_line}" in msg


def test_run_past_end_names_file_and_row(siim_copy, tmp_path):
    path = siim_copy / LABEL_FILE
    lines = path.read_text().splitlines()
    # a multi-row image's second row: the error must name that row, not the image's first
    ids = [line.split(",")[0] for line in lines[1:]]
    victim = next(i for i in ids if ids.count(i) > 1)
    line_no = [n for n, line in enumerate(lines, start=1) if line.startswith(victim + ",")][1]
    lines[line_no - 1] = f"{victim}, {PHANTOM_SIZE * PHANTOM_SIZE - 2} 5"
    path.write_text("\n".join(lines) + "\n")
    msg = data_error(build_store, SiimPneumothoraxReader(), siim_copy, tmp_path / "store", 32)
    assert LABEL_FILE in msg and f"row {line_no}" in msg and victim in msg and "past the end" in msg
    assert not (tmp_path / "store").exists()
