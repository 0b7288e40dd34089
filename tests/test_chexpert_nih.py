"""CheXpert and NIH ChestX-ray14: readers on phantom copies, label tables on the real
label files shipped by torchxrayvision, the label policy on hand-made rows, and
one-line errors on malformed input."""

from __future__ import annotations

import gzip
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import data_error

from benchmark.data.phantom.chexpert import label_findings, write_chexpert
from benchmark.data.phantom.nih import write_nih
from benchmark.data.phantom.sources import txv_data_file
from benchmark.data.readers.chexpert import (
    CHEXPERT_COLUMNS,
    COMPETITION_LABELS,
    CheXpertReader,
    chexpert_label_table,
)
from benchmark.data.readers.nih import NIH_LABELS, NihChestXray14Reader, nih_label_table

SEED, SIZE = 0, 64
CX_IMAGES, NIH_IMAGES = 200, 200




@pytest.fixture(scope="module")
def chexpert_root(module_dir) -> Path:
    root = module_dir("chexpert")
    write_chexpert(root, seed=SEED, image_size=SIZE, images=CX_IMAGES)
    return root


@pytest.fixture(scope="module")
def nih_root(module_dir) -> Path:
    root = module_dir("nih")
    write_nih(root, seed=SEED, image_size=SIZE, images=NIH_IMAGES)
    return root


@pytest.fixture
def chexpert_copy(chexpert_root, tmp_path) -> Path:
    dst = tmp_path / "chexpert"
    shutil.copytree(chexpert_root, dst)
    return dst


@pytest.fixture
def nih_copy(nih_root, tmp_path) -> Path:
    dst = tmp_path / "nih"
    shutil.copytree(nih_root, dst)
    return dst


# ---------------------------------------------------------------- CheXpert


def test_chexpert_reader_on_phantom(chexpert_root):
    train = pd.read_csv(chexpert_root / "train.csv")
    valid = pd.read_csv(chexpert_root / "valid.csv")
    assert list(train.columns) == list(CHEXPERT_COLUMNS) and len(train) == CX_IMAGES
    assert len(valid) == 20  # max(20, 8 % of 200)
    assert train["Path"].str.startswith("CheXpert-v1.0-small/train/patient").all()
    frame = CheXpertReader().records(chexpert_root)
    frontal = {name: int((t["Frontal/Lateral"] == "Frontal").sum()) for name, t in (("train", train), ("test", valid))}
    assert frame["official_split"].value_counts().to_dict() == frontal
    laterals = int((train["Frontal/Lateral"] == "Lateral").sum() + (valid["Frontal/Lateral"] == "Lateral").sum())
    assert laterals > 0 and frame.attrs["skipped"] == {"lateral view": laterals}
    assert frame["id"].is_unique and (frame["path"] == frame["id"]).all()
    assert frame["path"].map(lambda p: (chexpert_root / p).is_file()).all()
    assert (frame["group"] == frame["id"].str.split("/").str[1]).all()
    test_groups = set(frame.loc[frame["official_split"] == "test", "group"])
    train_groups = set(frame.loc[frame["official_split"] == "train", "group"])
    assert min(test_groups) == "patient64541" and not test_groups & train_groups
    # the phantom valid set has consensus-style 0/1 labels only, like the real one
    assert set(np.unique(valid.iloc[:, 5:].to_numpy())) <= {0.0, 1.0}
    image = CheXpertReader().load_image(chexpert_root, frame["path"].iloc[0])
    assert image.shape == (SIZE, SIZE) and image.dtype == np.uint8


def _chexpert_csv(path: Path, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows, columns=list(CHEXPERT_COLUMNS))
    frame["Sex"], frame["Age"] = "Female", 50
    frame.to_csv(path, index=False)


def _row(path: str, value: float | None, view: str = "Frontal") -> dict:
    return {"Path": path, "Frontal/Lateral": view, "AP/PA": "AP" if view == "Frontal" else None,
            **{label: value for label in COMPETITION_LABELS}}


def test_chexpert_label_policy_on_hand_made_rows(tmp_path):
    _chexpert_csv(tmp_path / "train.csv", [
        _row("CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.jpg", -1.0),
        _row("CheXpert-v1.0/train/patient00002/study1/view1_frontal.jpg", None),
        _row("train/patient00002/study1/view2_lateral.jpg", 1.0, view="Lateral"),
        _row("train/patient00003/study2/view1_frontal.jpg", 1.0),
        _row("CheXpert-v1.0-small/train/patient00004/study1/view1_frontal.jpg", 0.0),
    ])
    _chexpert_csv(tmp_path / "valid.csv",
                  [_row("CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg", 1.0)])
    table = chexpert_label_table(tmp_path / "train.csv")
    assert table["id"].tolist() == [
        "train/patient00001/study1/view1_frontal.jpg", "train/patient00002/study1/view1_frontal.jpg",
        "train/patient00003/study2/view1_frontal.jpg", "train/patient00004/study1/view1_frontal.jpg",
        "valid/patient64541/study1/view1_frontal.jpg"]
    assert table["group"].tolist() == ["patient00001", "patient00002", "patient00003", "patient00004", "patient64541"]
    assert table["official_split"].tolist() == ["train"] * 4 + ["test"]
    labels = table.set_index("group")[list(COMPETITION_LABELS)]
    # uncertain: U-Ones for Atelectasis, Edema, Pleural Effusion; U-Zeros for Cardiomegaly, Consolidation
    assert labels.loc["patient00001"].to_dict() == {"Atelectasis": 1, "Cardiomegaly": 0, "Consolidation": 0,
                                                    "Edema": 1, "Pleural Effusion": 1}
    assert labels.loc["patient00002"].sum() == 0  # blank -> 0
    assert labels.loc["patient00003"].tolist() == [1] * 5 and labels.loc["patient00004"].sum() == 0
    assert table["strat"].tolist() == ["10011", "00000", "11111", "00000", "11111"]
    assert table["label_row"].tolist() == [2, 3, 5, 6, 2]
    assert table.attrs["skipped"] == {"lateral view": 1}
    # the folder works as well as the file
    assert chexpert_label_table(tmp_path)["id"].tolist() == table["id"].tolist()


@pytest.fixture(scope="module")
def real_chexpert() -> tuple[pd.DataFrame, pd.DataFrame]:
    path = txv_data_file("chexpert_train.csv.gz")
    return chexpert_label_table(path), pd.read_csv(path)


def test_chexpert_label_table_on_real_file(real_chexpert):
    table, raw = real_chexpert
    assert len(table) == 191_027 and table["id"].is_unique
    assert table.attrs["skipped"] == {"lateral view": 32_387}
    assert (table["official_split"] == "train").all() and table["group"].nunique() == 64_534
    frontal = raw[raw["Frontal/Lateral"] == "Frontal"]
    for label in COMPETITION_LABELS:
        expected = frontal[label].isin([1.0, -1.0] if label in ("Atelectasis", "Edema", "Pleural Effusion") else [1.0])
        assert int(table[label].sum()) == int(expected.sum()), label
    assert table[list(COMPETITION_LABELS)].sum().to_dict() == {
        "Atelectasis": 59_583, "Cardiomegaly": 23_385, "Consolidation": 12_983, "Edema": 61_493,
        "Pleural Effusion": 86_477}
    for j, label in enumerate(COMPETITION_LABELS):
        assert (table["strat"].str[j] == table[label].astype(str)).all()


def test_chexpert_missing_column(chexpert_copy):
    path = chexpert_copy / "train.csv"
    pd.read_csv(path).drop(columns=["Edema"]).to_csv(path, index=False)
    msg = data_error(CheXpertReader().records, chexpert_copy)
    assert "train.csv" in msg and "Edema" in msg and "missing required column" in msg


@pytest.mark.parametrize(("column", "value"), [("Cardiomegaly", "2.0"), ("Edema", "maybe"), ("Fracture", "yes")])
def test_chexpert_invalid_label_names_file_and_row(chexpert_copy, column, value):
    path = chexpert_copy / "valid.csv"
    frame = pd.read_csv(path)
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = value
    frame.to_csv(path, index=False)
    msg = data_error(CheXpertReader().records, chexpert_copy)
    assert "valid.csv, row 5" in msg and column in msg and value in msg


def test_chexpert_missing_image_names_file_and_row(chexpert_copy):
    frame = CheXpertReader().records(chexpert_copy)
    victim = frame[frame["official_split"] == "train"].iloc[3]
    (chexpert_copy / victim["path"]).unlink()
    msg = data_error(CheXpertReader().records, chexpert_copy)
    assert victim["path"] in msg and "missing" in msg and f"train.csv, row {victim['label_row']}" in msg


def test_chexpert_bad_path_and_missing_valid(chexpert_copy):
    path = chexpert_copy / "train.csv"
    frame = pd.read_csv(path)
    frame.loc[0, "Path"] = "somewhere/else.png"
    frame.to_csv(path, index=False)
    assert "train.csv, row 2" in data_error(CheXpertReader().records, chexpert_copy)
    (chexpert_copy / "valid.csv").unlink()
    assert "valid.csv" in data_error(CheXpertReader().records, chexpert_copy)


def test_label_findings_policy():
    kinds = [{f.kind for f in label_findings({"Cardiomegaly": 1.0, "Pleural Effusion": -1.0, "Fracture": 1.0,
                                              "Edema": 0.0, "Atelectasis": float("nan")},
                                             np.random.default_rng([1, k]))} for k in range(200)]
    assert all("cardiomegaly" in k and not k & {"edema", "atelectasis"} for k in kinds)
    drawn = sum("effusion" in k for k in kinds)
    assert 70 < drawn < 130  # uncertain: drawn with probability 0.5
    low = [f.severity for k in range(50) for f in label_findings({"Edema": -1.0}, np.random.default_rng([2, k]))]
    assert low and max(low) < 0.4


# ---------------------------------------------------------------- NIH ChestX-ray14


def test_nih_reader_on_phantom(nih_root):
    raw = pd.read_csv(nih_root / "Data_Entry_2017_v2020.csv")
    assert len(raw) == NIH_IMAGES and raw.columns[-2:].tolist() == ["OriginalImagePixelSpacing[x", "y]"]
    frame = NihChestXray14Reader().records(nih_root)
    assert len(frame) == NIH_IMAGES and frame.attrs["skipped"] == {}
    test = set((nih_root / "test_list.txt").read_text().split())
    train = set((nih_root / "train_val_list.txt").read_text().split())
    assert test and train and not test & train and test | train == set(frame["id"])
    assert (frame["official_split"] == np.where(frame["id"].isin(test), "test", "train")).all()
    # the synthetic lists are made by patient
    assert frame.groupby("group")["official_split"].nunique().max() == 1
    assert frame["path"].str.match(r"images_001/images/\d{8}_\d{3}\.png$").all()
    counts = Counter(n for s in raw["Finding Labels"] if s != "No Finding" for n in s.split("|"))
    assert {k: v for k, v in frame[list(NIH_LABELS)].sum().items() if v} == dict(counts)
    image = NihChestXray14Reader().load_image(nih_root, frame["path"].iloc[0])
    assert image.shape == (SIZE, SIZE) and image.dtype == np.uint8


def test_nih_label_table_on_real_file():
    table = nih_label_table(txv_data_file("Data_Entry_2017_v2020.csv.gz"))
    assert len(table) == 112_120 and table["id"].is_unique and table["group"].nunique() == 30_805
    assert [c for c in table.columns if c in NIH_LABELS] == list(NIH_LABELS)
    assert (table["official_split"] == "train").all()  # no official lists beside the packaged file
    assert table[list(NIH_LABELS)].sum().to_dict() == {
        "Atelectasis": 11_559, "Cardiomegaly": 2_776, "Effusion": 13_317, "Infiltration": 19_894, "Mass": 5_782,
        "Nodule": 6_331, "Pneumonia": 1_431, "Pneumothorax": 5_302, "Consolidation": 4_667, "Edema": 2_303,
        "Emphysema": 2_516, "Fibrosis": 1_686, "Pleural_Thickening": 3_385, "Hernia": 227}
    assert int((table[list(NIH_LABELS)].sum(axis=1) == 0).sum()) == 60_361  # "No Finding"
    assert (table["strat"].str.len() == 14).all()


def test_nih_other_layouts(nih_copy):
    """Flat images/ folder, a gzipped label file, and an image in neither list (skipped, counted)."""
    flat = nih_copy / "images"
    (nih_copy / "images_001" / "images").rename(flat)
    label = nih_copy / "Data_Entry_2017_v2020.csv"
    with gzip.open(label.with_name("Data_Entry_2017_v2020.csv.gz"), "wb") as fh:
        fh.write(label.read_bytes())
    label.unlink()
    lines = (nih_copy / "train_val_list.txt").read_text().splitlines()
    (nih_copy / "train_val_list.txt").write_text("\n".join(lines[1:]) + "\n")
    frame = NihChestXray14Reader().records(nih_copy)
    assert len(frame) == NIH_IMAGES - 1 and lines[0] not in set(frame["id"])
    assert frame.attrs["skipped"] == {"not in train_val_list.txt or test_list.txt": 1}
    assert frame["path"].str.startswith("images/").all()


def test_nih_missing_column(nih_copy):
    path = nih_copy / "Data_Entry_2017_v2020.csv"
    pd.read_csv(path).drop(columns=["Finding Labels"]).to_csv(path, index=False)
    msg = data_error(NihChestXray14Reader().records, nih_copy)
    assert "Data_Entry_2017_v2020.csv" in msg and "Finding Labels" in msg


def test_nih_unknown_label_names_file_and_row(nih_copy):
    path = nih_copy / "Data_Entry_2017_v2020.csv"
    frame = pd.read_csv(path)
    frame.loc[6, "Finding Labels"] = "Effusion|Pneumonitis"
    frame.to_csv(path, index=False)
    msg = data_error(NihChestXray14Reader().records, nih_copy)
    assert "Data_Entry_2017_v2020.csv, row 8" in msg and "Pneumonitis" in msg


def test_nih_missing_image_names_file_and_row(nih_copy):
    frame = NihChestXray14Reader().records(nih_copy)
    victim = frame.iloc[5]
    (nih_copy / victim["path"]).unlink()
    msg = data_error(NihChestXray14Reader().records, nih_copy)
    assert victim["id"] in msg and "missing" in msg and "Data_Entry_2017_v2020.csv, row 7" in msg


def test_nih_list_errors(nih_copy):
    test_list = nih_copy / "test_list.txt"
    first_train = (nih_copy / "train_val_list.txt").read_text().split()[0]
    test_list.write_text(test_list.read_text() + first_train + "\n")
    msg = data_error(NihChestXray14Reader().records, nih_copy)
    assert "test_list.txt, row" in msg and first_train in msg and "train_val_list.txt" in msg
    (nih_copy / "train_val_list.txt").unlink()
    assert "train_val_list.txt" in data_error(NihChestXray14Reader().records, nih_copy)


# ---------------------------------------------------------------- determinism


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_phantoms_are_deterministic(tmp_path):
    for name, writer in (("chexpert", write_chexpert), ("nih", write_nih)):
        a, b, c = (tmp_path / f"{name}{i}" for i in range(3))
        for out, seed in ((a, 3), (b, 3), (c, 4)):
            writer(out, seed=seed, image_size=32, images=25)
        assert _files(a) == _files(b)
        assert _files(a) != _files(c)
