"""COVIDx and Object-CXR: readers on synthetic phantom copies, and one-line errors on bad input."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import assert_same_files, data_error

from benchmark.data.imaging import Letterbox
from benchmark.data.phantom.anatomy import sample_geometry
from benchmark.data.phantom.covidx import (
    LIST_NAMES,
    add_ground_glass,
    allocate,
    synthetic_covidx_lists,
    write_covidx,
    write_covidx_lists,
)
from benchmark.data.phantom.object_cxr import (
    format_annotation,
    synthetic_object_cxr_lists,
    write_object_cxr,
)
from benchmark.data.readers.covidx import CLASSES, CovidxReader, covidx_label_table
from benchmark.data.readers.object_cxr import (
    ObjectCxrReader,
    object_cxr_label_table,
    parse_annotation,
)
from benchmark.data.store import Store, build_store

SEED, SIZE = 3, 128


@pytest.fixture(scope="module")
def covidx_phantom(module_dir) -> tuple[Path, pd.DataFrame]:
    root = module_dir("covidx")
    return root, write_covidx(root, seed=SEED, image_size=SIZE, train=160, test=40)


@pytest.fixture(scope="module")
def object_phantom(module_dir) -> tuple[Path, pd.DataFrame]:
    root = module_dir("object_cxr")
    return root, write_object_cxr(root, seed=SEED, image_size=SIZE, train=160, dev=40)


@pytest.fixture
def covidx_copy(covidx_phantom, tmp_path) -> Path:
    return Path(shutil.copytree(covidx_phantom[0], tmp_path / "covidx"))


@pytest.fixture
def object_copy(object_phantom, tmp_path) -> Path:
    return Path(shutil.copytree(object_phantom[0], tmp_path / "object_cxr"))




def _edit_line(path: Path, line_no: int, new: str) -> str:
    lines = path.read_text().splitlines()
    old = lines[line_no - 1]
    lines[line_no - 1] = new
    path.write_text("\n".join(lines) + "\n")
    return old


# --------------------------------------------------------------------------- COVIDx

def test_covidx_reader_counts_match_written_lists(covidx_phantom):
    root, written = covidx_phantom
    frame = CovidxReader().records(root)
    assert len(frame) == len(written) == 200 and frame["id"].is_unique
    assert frame.attrs["skipped"] == {}
    assert sorted(p.name for p in root.glob("*.txt")) == sorted(LIST_NAMES.values())
    got = frame.groupby(["official_split", "label"]).size().to_dict()
    want = written.groupby(["split", "label"]).size().to_dict()
    assert got == want
    # official test is 1:1:2 like COVIDx 9A's 100/100/200; train follows the 9A shares
    assert got[("test", "normal")] == got[("test", "pneumonia")] == 10 and got[("test", "COVID-19")] == 20
    assert allocate(160, {"normal": 8_085, "pneumonia": 5_555, "COVID-19": 16_490}) == {
        "normal": 43, "pneumonia": 29, "COVID-19": 88}
    assert (frame["target"] == frame["label"].map(CLASSES.index)).all()
    assert (frame["strat"] == frame["label"]).all()
    # group is the list's patient id; a patient never spans both lists
    assert frame.groupby("group")["official_split"].nunique().max() == 1
    assert frame.groupby("group").size().max() > 1
    # label_row is the line of the list the row came from
    row = frame[frame["official_split"] == "test"].iloc[5]
    line = (root / LIST_NAMES["test"]).read_text().splitlines()[row["label_row"] - 1].split()
    assert line[0] == row["group"] and f"test/{line[1]}" == row["path"] and line[2] == row["label"]
    assert {Path(p).suffix for p in frame["path"]} >= {".png", ".jpg"}


def test_covidx_label_table_needs_no_images(covidx_phantom, tmp_path):
    root, _ = covidx_phantom
    for name in LIST_NAMES.values():
        shutil.copy(root / name, tmp_path / name)
    table = covidx_label_table(tmp_path / LIST_NAMES["train"])
    records = CovidxReader().records(root)
    pd.testing.assert_frame_equal(table, records.drop(columns=["path"]))
    assert {"id", "group", "official_split", "target", "strat"} <= set(table.columns)
    pd.testing.assert_frame_equal(covidx_label_table(tmp_path), table)
    (tmp_path / LIST_NAMES["test"]).unlink()  # the test list is optional here
    assert set(covidx_label_table(tmp_path / LIST_NAMES["train"])["official_split"]) == {"train"}


def test_covidx_store_mixed_png_jpeg(covidx_phantom, tmp_path):
    root, _ = covidx_phantom
    info = build_store(CovidxReader(), root, tmp_path / "store", 32)
    store = Store.open(tmp_path / "store")
    assert store.images.shape == (200, 32, 32) and info["skipped"] == {}
    assert store.manifest["official_split"].value_counts().to_dict() == {"train": 160, "test": 40}


def test_covidx_extra_columns_and_class_aliases(tmp_path):
    (tmp_path / "train_COVIDx_CXR-3.txt").write_text(
        "3 SARS-CoV-2-Figure1.jpeg COVID-19 cohen\n"
        "4 a.png covid-19 sirm extra columns here\n"
        "\n"
        "5 b.png COVID19 bimcv\n"
        "6 c.png Normal rsna 1\n"
        "7 d.png PNEUMONIA rsna\n")
    table = covidx_label_table(tmp_path / "train_COVIDx_CXR-3.txt")
    assert table["label"].tolist() == ["COVID-19", "COVID-19", "COVID-19", "normal", "pneumonia"]
    assert table["source"].tolist() == ["cohen", "sirm", "bimcv", "rsna", "rsna"]
    assert table["label_row"].tolist() == [1, 2, 4, 5, 6]
    assert table["id"].tolist()[0] == "train/SARS-CoV-2-Figure1.jpeg"


def test_covidx_too_few_columns(covidx_copy):
    path = covidx_copy / LIST_NAMES["train"]
    old = _edit_line(path, 7, "")  # a blank line is skipped, not an error
    assert len(CovidxReader().records(covidx_copy)) == 199
    _edit_line(path, 7, " ".join(old.split()[:3]))
    msg = data_error(CovidxReader().records, covidx_copy)
    assert LIST_NAMES["train"] in msg and "row 7" in msg and "at least 4" in msg


def test_covidx_unknown_and_binary_class(covidx_copy):
    path = covidx_copy / LIST_NAMES["test"]
    patient, name, _, source = _edit_line(path, 4, "x").split()[:4]
    _edit_line(path, 4, f"{patient} {name} influenza {source}")
    msg = data_error(CovidxReader().records, covidx_copy)
    assert LIST_NAMES["test"] in msg and "row 4" in msg and "unknown class 'influenza'" in msg
    _edit_line(path, 4, f"{patient} {name} positive {source}")
    assert "binary" in data_error(CovidxReader().records, covidx_copy)


def test_covidx_duplicate_file_in_one_split(covidx_copy):
    path = covidx_copy / LIST_NAMES["train"]
    first = path.read_text().splitlines()[0]
    with path.open("a") as fh:
        fh.write(first + "\n")
    n = len(path.read_text().splitlines())
    msg = data_error(CovidxReader().records, covidx_copy)
    assert LIST_NAMES["train"] in msg and f"row {n}" in msg and "twice" in msg and "row 1)" in msg


def test_covidx_missing_image(covidx_copy):
    frame = CovidxReader().records(covidx_copy)
    victim = frame[frame["official_split"] == "test"].iloc[2]
    (covidx_copy / victim["path"]).unlink()
    msg = data_error(CovidxReader().records, covidx_copy)
    assert LIST_NAMES["test"] in msg and victim["path"] in msg and "missing" in msg
    assert f"row {victim['label_row']}" in msg


def test_covidx_list_files_by_naming_rule(covidx_copy):
    shutil.copy(covidx_copy / LIST_NAMES["train"], covidx_copy / "train_COVIDx8B.txt")
    msg = data_error(CovidxReader().records, covidx_copy)
    assert str(covidx_copy) in msg and "several" in msg and "train_COVIDx8B.txt" in msg
    (covidx_copy / "train_COVIDx8B.txt").unlink()
    (covidx_copy / LIST_NAMES["test"]).unlink()
    msg = data_error(CovidxReader().records, covidx_copy)
    assert str(covidx_copy) in msg and "test*.txt" in msg


def test_synthetic_covidx_lists_have_published_sizes(tmp_path):
    train, test = synthetic_covidx_lists()
    assert (len(train), len(test)) == (29_986, 400)
    assert test["label"].value_counts().to_dict() == {"COVID-19": 200, "normal": 100, "pneumonia": 100}
    shares = train["label"].value_counts(normalize=True)
    assert shares["normal"] == pytest.approx(8_085 / 30_130, abs=1e-3)
    assert shares["COVID-19"] == pytest.approx(16_490 / 30_130, abs=1e-3)
    write_covidx_lists(tmp_path, train, test)
    table = covidx_label_table(tmp_path / LIST_NAMES["train"])
    assert table["id"].is_unique and table["official_split"].value_counts().to_dict() == {"train": 29_986, "test": 400}
    # the paper's split: 20 % of the official train images as validation (ceil), official test kept
    n_valid = math.ceil(0.2 * 29_986)
    assert (29_986 - n_valid, n_valid, 400) == (23_988, 5_998, 400)
    assert not set(table.loc[table["official_split"] == "train", "group"]) & set(
        table.loc[table["official_split"] == "test", "group"])


def test_covidx_phantom_deterministic(tmp_path):
    a = write_covidx(tmp_path / "a", seed=5, image_size=48, train=8, test=4)
    b = write_covidx(tmp_path / "b", seed=5, image_size=48, train=8, test=4)
    pd.testing.assert_frame_equal(a, b)
    assert_same_files(tmp_path / "a", tmp_path / "b", 14)


def test_ground_glass_is_lower_peripheral_and_bilateral():
    rng = np.random.default_rng(0)
    geometry = sample_geometry(rng, [])
    film = np.full((128, 128), 60, np.uint8)
    diff = add_ground_glass(film, geometry, rng, severity=1.0).astype(int) - film
    assert diff.min() >= 0

    def mean(x0: float, x1: float, y0: float, y1: float) -> float:
        return float(diff[int(y0 * 128):int(y1 * 128), int(x0 * 128):int(x1 * 128)].mean())

    g = geometry
    lower = g.lung_cy + 0.1
    for i, side in ((0, -1), (1, 1)):
        cx, rx = g.lung_cx[i], g.lung_rx[i]
        lateral = sorted((cx + side * 0.4 * rx, cx + side * 0.9 * rx))
        medial = sorted((cx - side * 0.4 * rx, cx - side * 0.9 * rx))
        assert mean(*lateral, lower, lower + 0.08) > 8  # both lungs hazy laterally, low down
        assert mean(*lateral, lower, lower + 0.08) > 2 * mean(*medial, lower, lower + 0.08)
        assert mean(*lateral, lower, lower + 0.08) > 3 * mean(*lateral, g.lung_cy - 0.25, g.lung_cy - 0.17)


# ----------------------------------------------------------------------- Object-CXR

def _tight(annotation: str) -> list[list[float]]:
    """Tight boxes recomputed here from the written annotation string."""
    out = []
    for obj in filter(None, annotation.split(";")):
        values = [float(v) for v in obj.split()[1:]]
        out.append([min(values[0::2]), min(values[1::2]), max(values[0::2]), max(values[1::2])])
    return out


def test_object_cxr_reader_boxes_are_tight_bounds(object_phantom):
    root, written = object_phantom
    frame = ObjectCxrReader().records(root)
    assert len(frame) == len(written) == 200 and frame["id"].is_unique and frame.attrs["skipped"] == {}
    assert frame["official_split"].value_counts().to_dict() == {"train": 160, "test": 40}
    assert (frame["group"] == written["image_name"]).all()
    assert frame["path"].tolist() == (written["split"] + "/" + written["image_name"]).tolist()
    assert frame["target"].tolist() == (written["annotation"] != "").astype(int).tolist()
    assert frame.groupby("official_split")["target"].sum().to_dict() == {"train": 80, "test": 20}
    assert [json.loads(b) for b in frame["boxes"]] == [_tight(a) for a in written["annotation"]]
    kinds = {int(o.split()[0]) for a in written["annotation"] for o in filter(None, a.split(";"))}
    assert kinds == {0, 1, 2}
    assert (frame["strat"] == frame["target"].astype(str)).all()
    # rectangles are radio-opaque: their inside is bright on the written JPEG
    reader = ObjectCxrReader()
    inside = []
    for row, note in zip(frame.itertuples(), written["annotation"]):
        for obj in filter(None, note.split(";")):
            if obj.startswith("0 "):
                x1, y1, x2, y2 = (int(v) for v in obj.split()[1:])
                if x2 - x1 > 2 and y2 - y1 > 2:
                    inside.append(np.median(reader.load_image(root, row.path)[y1 + 1:y2, x1 + 1:x2]))
    assert len(inside) > 10 and min(inside) >= 180


def test_parse_annotation_hand_computed():
    where = (Path("train.csv"), 2)
    polygon = "2 10 20 30 5 25 40 5 30"  # points (10,20) (30,5) (25,40) (5,30)
    assert parse_annotation(polygon, *where) == [[5.0, 5.0, 30.0, 40.0]]
    assert parse_annotation("0 50 60 10 20", *where) == [[10.0, 20.0, 50.0, 60.0]]  # corners in any order
    assert parse_annotation("1 100 200 140 260;0 1 2 3 4;", *where) == [[100, 200, 140, 260], [1, 2, 3, 4]]
    assert parse_annotation("", *where) == []
    assert format_annotation([(2, [10, 20, 30, 5, 25, 40, 5, 30]), (0, [1, 2, 3, 4])]) == polygon + ";0 1 2 3 4"


@pytest.mark.parametrize("annotation, problem", [
    ("3 10 10 20 20", "bad object type '3'"),
    ("0 10 10 20", "odd number of coordinates"),
    ("2 10 10 20 x 30 30", "non-numeric"),
    ("1 10 10 20 20 30 30", "exactly 2 points"),
])
def test_object_cxr_malformed_annotation(object_copy, annotation, problem):
    path = object_copy / "dev.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[6, "annotation"] = annotation
    frame.to_csv(path, index=False)
    msg = data_error(ObjectCxrReader().records, object_copy)
    assert "dev.csv" in msg and "row 8" in msg and problem in msg


def test_object_cxr_missing_column_and_duplicate(object_copy):
    path = object_copy / "train.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.drop(columns=["annotation"]).to_csv(path, index=False)
    msg = data_error(ObjectCxrReader().records, object_copy)
    assert "train.csv" in msg and "annotation" in msg and "missing required column" in msg
    pd.concat([frame, frame.iloc[[3]]]).to_csv(path, index=False)
    msg = data_error(ObjectCxrReader().records, object_copy)
    assert "train.csv" in msg and f"row {len(frame) + 2}" in msg and "twice" in msg


def test_object_cxr_missing_image(object_copy):
    (object_copy / "train" / "00010.jpg").unlink()
    msg = data_error(ObjectCxrReader().records, object_copy)
    assert "train.csv" in msg and "train/00010.jpg" in msg and "missing" in msg and "row 11" in msg


def test_object_cxr_store_maps_boxes_through_letterbox(object_phantom, tmp_path):
    root, written = object_phantom
    build_store(ObjectCxrReader(), root, tmp_path / "store", 64)
    store = Store.open(tmp_path / "store")
    assert store.images.shape == (200, 64, 64) and store.masks is None
    positive = store.manifest[store.manifest["target"] == 1]
    assert len(positive) == 100
    for row in positive.itertuples():
        assert (row.orig_height, row.orig_width) == tuple(written.loc[row.index, ["height", "width"]])
        lb = Letterbox.fit(row.orig_height, row.orig_width, 64)
        want = [v for b in json.loads(row.boxes_original) for v in lb.box(*b)]
        assert [v for b in json.loads(row.boxes) for v in b] == pytest.approx(want, abs=0.01)
    # by hand for one film: narrower than tall, so padded left and right
    row = positive.iloc[0]
    scale = 64 / row["orig_height"]
    pad_x = (64 - row["orig_width"] * scale) / 2
    x1, y1, x2, y2 = json.loads(row["boxes_original"])[0]
    assert pad_x > 0
    by_hand = [x1 * scale + pad_x, y1 * scale, x2 * scale + pad_x, y2 * scale]
    assert json.loads(row["boxes"])[0] == pytest.approx(by_hand, abs=0.01)


def test_object_cxr_box_outside_image(object_copy, tmp_path):
    path = object_copy / "train.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    i = int(np.flatnonzero(frame["annotation"].to_numpy() == "")[0])
    frame.loc[i, "annotation"] = "0 10 10 400 40"
    frame.to_csv(path, index=False)
    msg = data_error(build_store, ObjectCxrReader(), object_copy, tmp_path / "store", 32)
    assert "train.csv" in msg and f"row {i + 2}" in msg and "outside" in msg and frame.loc[i, "image_name"] in msg
    assert not (tmp_path / "store").exists()


def test_synthetic_object_cxr_lists_have_release_sizes(tmp_path):
    train, dev = synthetic_object_cxr_lists()
    assert (len(train), len(dev)) == (8_000, 1_000)
    assert ((train["annotation"] != "").sum(), (dev["annotation"] != "").sum()) == (4_000, 500)
    train.to_csv(tmp_path / "train.csv", index=False)
    dev.to_csv(tmp_path / "dev.csv", index=False)
    table = object_cxr_label_table(tmp_path / "train.csv")
    assert table["id"].is_unique and table["official_split"].value_counts().to_dict() == {"train": 8_000, "test": 1_000}
    assert table["target"].sum() == 4_500 and {"group", "strat", "boxes"} <= set(table.columns)
    n_valid = math.ceil(0.2 * 8_000)
    assert (8_000 - n_valid, n_valid, 1_000) == (6_400, 1_600, 1_000)
    pd.testing.assert_frame_equal(object_cxr_label_table(tmp_path), table)


def test_object_cxr_phantom_deterministic(tmp_path):
    a = write_object_cxr(tmp_path / "a", seed=5, image_size=48, train=6, dev=4)
    b = write_object_cxr(tmp_path / "b", seed=5, image_size=48, train=6, dev=4)
    pd.testing.assert_frame_equal(a, b)
    assert_same_files(tmp_path / "a", tmp_path / "b", 12)


def test_polylabel_boxes_are_mgcas_polygon_boxes():
    """Reader option polygon_boxes: polylabel (the paper profile): a polygon's box is centred on the
    pole of inaccessibility of its 100-px-buffered outline, half-sizes the larger distance to the
    outline's bounds per axis (MGCA's object_cxr.py). Hand-checked on symmetric shapes; rectangles
    and ellipses keep their corners."""
    from shapely.geometry import LineString
    from shapely.ops import polylabel

    from benchmark.data.readers.object_cxr import ObjectCxrReader, parse_annotation

    square = "2 100 100 300 100 300 300 100 300"
    assert parse_annotation(square, Path("x.csv"), 2, "polylabel") == [pytest.approx([100, 100, 300, 300], abs=1e-6)]
    segment = "2 100 200 500 200"  # a stadium once buffered: its centre is the segment's middle
    assert parse_annotation(segment, Path("x.csv"), 2, "polylabel") == [pytest.approx([100, 200, 500, 200], abs=1e-6)]
    hook = [100, 100, 400, 100, 400, 400, 350, 400, 350, 150, 100, 150]  # an L: the centre is off the tight box's middle
    (box,) = parse_annotation("2 " + " ".join(map(str, hook)), Path("x.csv"), 2, "polylabel")
    centre = polylabel(LineString(list(zip(hook[0::2], hook[1::2])) + [(100, 100)]).buffer(100), tolerance=10)
    assert (box[0] + box[2]) / 2 == pytest.approx(centre.x) and (box[1] + box[3]) / 2 == pytest.approx(centre.y)
    assert box[0] <= 100 and box[1] <= 100 and box[2] >= 400 and box[3] >= 400 and box != [100, 100, 400, 400]
    assert parse_annotation("0 10 20 30 40;1 5 5 9 9", Path("x.csv"), 2, "polylabel") == [[10, 20, 30, 40], [5, 5, 9, 9]]
    assert parse_annotation(square, Path("x.csv"), 2) == [[100, 100, 300, 300]]  # the default: tight boxes
    with pytest.raises(Exception, match="reader option polygon_boxes 'round' is not one of tight, polylabel"):
        ObjectCxrReader(polygon_boxes="round")
