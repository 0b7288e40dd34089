"""The bad-input corpus: every known way a raw dataset can be broken, and what happens.

Each case copies one phantom dataset (raw layout, smoke size) into a private folder,
breaks it in one way and runs ``python -m benchmark.prepare`` on it in-process (its
``main`` through :func:`benchmark.core.errors.run_cli`, i.e. ``Reader.records`` then
``build_store``). Every case ends in one of three documented outcomes:

``Error(pattern)``
    exit code 2, stderr ends with exactly one line ``error: <file>[, row N]: <problem>``
    (``pattern`` must match it right after the dataset root; ``<name>`` stands for a
    fact the corruption returned, e.g. the row it broke), no traceback, and no store or
    temporary folder left behind;
``Skip(reason, n)``
    the store is written with ``n`` fewer records than the clean copy, and store.json
    ``"skipped"[reason]`` (= ``records.attrs["skipped"]``) is ``n`` higher: left out on
    purpose and counted, never dropped silently;
``Handled(check, doc)``
    the input is accepted and ``check`` asserts that the result is right (e.g. pixel
    values of a MONOCHROME1 or 16-bit image).

Decisions worth knowing (they are the ``what`` of the cases below):

* an id listed twice is an error, except in the two formats with one row per annotation:
  RSNA (one row per box) and SIIM (one row per mask region). There a row that repeats an
  earlier one is an error for RSNA (the box would count twice as ground truth) and
  harmless for SIIM (the mask is the union), and a "negative" row next to positive rows
  of the same image is an error for both;
* blank label cells are a documented value only where the format says so (CheXpert:
  "not mentioned" -> 0; Object-CXR: no objects); elsewhere a blank label is an error;
* a report that is not UTF-8 is an error naming the report file (a re-encoded copy of
  MIMIC-CXR; guessing the code page would silently change the text the model reads).

The table doubles as the documentation of outcomes (see ``doc_table``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image

from benchmark import prepare
from benchmark.core.errors import run_cli
from benchmark.data.datasets import get_reader
from benchmark.data.dicom_io import write_dicom
from benchmark.data.readers.mimic import finding_mask
from benchmark.data.store import Store

SIZE = 64  # store size; replacement images are SIZE x SIZE so the letterbox keeps their pixels exactly


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Error:
    pattern: str  # regex after the dataset root; <name> is replaced by the escaped fact `name`


@dataclass(frozen=True)
class Skip:
    reason: str
    count: int


@dataclass(frozen=True)
class Handled:
    check: Callable[[Store, dict], None]
    doc: str


@dataclass(frozen=True)
class Case:
    id: str
    reader: str
    what: str
    corrupt: Callable[[Path], dict | None]
    outcome: Error | Skip | Handled


# ---------------------------------------------------------------- helpers


def _records(name: str, root: Path) -> pd.DataFrame:
    return get_reader(name).records(root)


def _table(path: Path) -> pd.DataFrame:
    """A label CSV exactly as written (every cell text, blanks stay blank)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _save(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)  # .csv.gz is compressed again (inferred from the name)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _keep_header_only(path: Path) -> None:
    path.write_text(path.read_text().splitlines()[0] + "\n")


def _list_file(root: Path, split: str) -> Path:
    return next(root.glob(f"{split}*.txt"))


def _set_list_field(root: Path, split: str, line: int, field: int, value: str | None) -> str:
    """Set (or with None drop) one space-separated field of line ``line`` (1-based); returns the list's name."""
    path = _list_file(root, split)
    lines = path.read_text().splitlines()
    parts = lines[line - 1].split()
    if value is None:
        del parts[field]
    else:
        parts[field] = value
    lines[line - 1] = " ".join(parts)
    path.write_text("\n".join(lines) + "\n")
    return path.name


RAMP8 = (np.arange(SIZE * SIZE) % 256).astype(np.uint8).reshape(SIZE, SIZE)  # every 8-bit value
RAMP12 = np.arange(SIZE * SIZE, dtype=np.uint16).reshape(SIZE, SIZE)  # 0 .. 4095: 12 bits stored in 16


def _row_of(store: Store, image_id: str) -> int:
    return int(np.flatnonzero(store.manifest["id"].astype(str).to_numpy() == image_id)[0])


def _scaled_12bit(store: Store, facts: dict) -> None:
    i = _row_of(store, facts["id"])
    assert (store.manifest.loc[i, "orig_height"], store.manifest.loc[i, "orig_width"]) == (SIZE, SIZE)
    expected = np.rint(RAMP12.astype(np.float64) * 255.0 / 4095.0).astype(np.uint8)
    assert np.array_equal(store.images[i], expected)
    # hand-checked points: 0 -> 0, 1000 -> 62, 2048 -> 128, 4095 -> 255 (not clipped to 255 above 255)
    flat = store.images[i].ravel()
    assert (flat[0], flat[1000], flat[2048], flat[4095]) == (0, 62, 128, 255)


# ---------------------------------------------------------------- MIMIC-CXR-JPG

MIMIC_META = "mimic-cxr-2.0.0-metadata.csv.gz"
MIMIC_SPLIT = "mimic-cxr-2.0.0-split.csv.gz"


def mimic_truncated_jpeg(root: Path) -> dict:
    rel = _records("mimic", root)["path"].iloc[0]
    _truncate(root / rel)
    return {"file": rel}


def mimic_empty_report(root: Path) -> dict:
    frame = _records("mimic", root)
    studies = frame["path"].str.rsplit("/", n=1).str[0]
    single = studies.value_counts()
    study = next(s for s in studies if single[s] == 1)  # a study with one usable image: exactly one skip
    (root / f"{study}.txt").write_bytes(b"")
    return {}


def mimic_cp1252_report(root: Path) -> dict:
    study = _records("mimic", root)["path"].iloc[0].rsplit("/", 1)[0]
    text = " FINDINGS: Café-au-lait spot over the left shoulder. Lungs clear.\n IMPRESSION: Normal.\n"
    (root / f"{study}.txt").write_bytes(text.encode("cp1252"))
    return {"report": f"{study}.txt"}


def mimic_duplicate_dicom_id(root: Path) -> dict:
    meta = _table(root / MIMIC_META)
    _save(pd.concat([meta, meta.iloc[[0]]], ignore_index=True), root / MIMIC_META)
    return {"row": len(meta) + 2, "id": meta["dicom_id"].iloc[0]}


def mimic_missing_image(root: Path) -> dict:
    rel = _records("mimic", root)["path"].iloc[0]
    (root / rel).unlink()
    meta = _table(root / MIMIC_META)
    row = int(np.flatnonzero(meta["dicom_id"].to_numpy() == Path(rel).stem)[0]) + 2
    return {"row": row, "file": rel}


def mimic_not_in_split_file(root: Path) -> dict:
    split = _table(root / MIMIC_SPLIT)
    victim = _table(root / MIMIC_META)["dicom_id"].iloc[0]
    _save(split[split["dicom_id"] != victim], root / MIMIC_SPLIT)
    return {"id": victim}


def mimic_bad_split_value(root: Path) -> dict:
    split = _table(root / MIMIC_SPLIT)
    split.loc[2, "split"] = "val"
    _save(split, root / MIMIC_SPLIT)
    return {}


def mimic_bad_subject_id(root: Path) -> dict:
    meta = _table(root / MIMIC_META)
    meta.loc[0, "subject_id"] = "p" + meta.loc[0, "subject_id"]  # the folder name, not the id
    _save(meta, root / MIMIC_META)
    return {"value": meta.loc[0, "subject_id"]}


def mimic_blank_view(root: Path) -> dict:
    used = Path(_records("mimic", root)["path"].iloc[0]).stem
    meta = _table(root / MIMIC_META)
    meta.loc[meta["dicom_id"] == used, "ViewPosition"] = ""
    _save(meta, root / MIMIC_META)
    return {}


def mimic_truncated_gzip(root: Path) -> dict:
    _truncate(root / MIMIC_META)
    return {}


def empty_folder(root: Path) -> dict:
    shutil.rmtree(root)
    root.mkdir()
    return {}


# ---------------------------------------------------------------- CheXpert

CX_LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")


def _first_frontal(table: pd.DataFrame) -> int:
    return int(np.flatnonzero(table["Frontal/Lateral"].to_numpy() == "Frontal")[0])


def chexpert_uncertain_and_blank(root: Path) -> dict:
    train = _table(root / "train.csv")
    i = _first_frontal(train)
    for column, value in zip(CX_LABELS, ("-1.0", "-1.0", "", "-1.0", "")):
        train.loc[i, column] = value
    _save(train, root / "train.csv")
    return {"id": train.loc[i, "Path"].split("/", 1)[1]}


def _chexpert_policy(store: Store, facts: dict) -> None:
    row = store.manifest.iloc[_row_of(store, facts["id"])]
    # U-Ones for Atelectasis and Edema, U-Zeros for Cardiomegaly; blank is 0
    assert {c: int(row[c]) for c in CX_LABELS} == {"Atelectasis": 1, "Cardiomegaly": 0, "Consolidation": 0,
                                                   "Edema": 1, "Pleural Effusion": 0}


def chexpert_label_out_of_range(root: Path) -> dict:
    train = _table(root / "train.csv")
    i = _first_frontal(train)
    train.loc[i, "Edema"] = "2.0"
    _save(train, root / "train.csv")
    return {"row": i + 2}


def chexpert_duplicate_path(root: Path) -> dict:
    train = _table(root / "train.csv")
    i = _first_frontal(train)
    _save(pd.concat([train, train.iloc[[i]]], ignore_index=True), root / "train.csv")
    return {"row": len(train) + 2, "id": train.loc[i, "Path"].split("/", 1)[1]}


def chexpert_semicolons(root: Path) -> dict:
    path = root / "train.csv"
    path.write_text(path.read_text().replace(",", ";"))
    return {}


def chexpert_header_only(root: Path) -> dict:
    _keep_header_only(root / "train.csv")
    return {}


def chexpert_missing_valid_image(root: Path) -> dict:
    valid = _table(root / "valid.csv")
    i = _first_frontal(valid)
    rel = valid.loc[i, "Path"].split("/", 1)[1]
    (root / rel).unlink()
    return {"row": i + 2, "file": rel}


# ---------------------------------------------------------------- RSNA Pneumonia

RSNA_LABELS = "stage_2_train_labels.csv"


def _rsna_first(root: Path, target: int) -> str:
    frame = _records("rsna", root)
    return frame.loc[frame["target"] == target, "path"].iloc[0]


def rsna_no_pixel_data(root: Path) -> dict:
    rel = _records("rsna", root)["path"].iloc[0]
    ds = pydicom.dcmread(root / rel)
    del ds.PixelData
    ds.save_as(root / rel)
    return {"file": rel}


def rsna_monochrome1(root: Path) -> dict:
    rel = _rsna_first(root, 0)  # a negative patient: no box to move with the new image size
    write_dicom(root / rel, RAMP8, patient_id=Path(rel).stem, monochrome1=True)
    return {"id": Path(rel).stem}


def _inverted(store: Store, facts: dict) -> None:
    i = _row_of(store, facts["id"])
    assert np.array_equal(store.images[i], 255 - RAMP8)  # max 255: scaling is the identity, then inverted
    assert store.images[i][0, 0] == 255 and store.images[i].ravel()[255] == 0  # stored 0 is white, 255 black


def rsna_box_outside(root: Path) -> dict:
    labels = _table(root / RSNA_LABELS)
    pid = Path(_rsna_first(root, 1)).stem
    i = int(np.flatnonzero(labels["patientId"].to_numpy() == pid)[0])
    labels.loc[i, "width"] = "5000.0"
    _save(labels, root / RSNA_LABELS)
    return {"row": i + 2, "pid": pid}


def rsna_repeated_box_row(root: Path) -> dict:
    labels = _table(root / RSNA_LABELS)
    i = int(np.flatnonzero(labels["Target"].to_numpy() == "1")[0])
    _save(pd.concat([labels, labels.iloc[[i]]], ignore_index=True), root / RSNA_LABELS)
    return {"row": len(labels) + 2, "first": i + 2, "pid": labels.loc[i, "patientId"]}


def rsna_negative_and_positive_rows(root: Path) -> dict:
    labels = _table(root / RSNA_LABELS)
    i = int(np.flatnonzero(labels["Target"].to_numpy() == "1")[0])
    extra = labels.iloc[[i]].assign(x="", y="", width="", height="", Target="0")
    _save(pd.concat([labels, extra], ignore_index=True), root / RSNA_LABELS)
    return {"row": len(labels) + 2, "pid": labels.loc[i, "patientId"]}


def rsna_blank_target(root: Path) -> dict:
    labels = _table(root / RSNA_LABELS)
    labels.loc[3, "Target"] = ""
    _save(labels, root / RSNA_LABELS)
    return {}


def rsna_blank_patient_id(root: Path) -> dict:
    labels = _table(root / RSNA_LABELS)
    labels.loc[0, "patientId"] = ""
    _save(labels, root / RSNA_LABELS)
    return {}


def rsna_renamed_column(root: Path) -> dict:
    labels = _table(root / RSNA_LABELS)
    _save(labels.rename(columns={"patientId": "patient_id"}), root / RSNA_LABELS)
    return {}


def rsna_header_only(root: Path) -> dict:
    _keep_header_only(root / RSNA_LABELS)
    return {}


# ---------------------------------------------------------------- COVIDx


def covidx_unknown_class(root: Path) -> dict:
    return {"list": _set_list_field(root, "train", 3, 2, "viral-pneumonia")}


def covidx_three_fields(root: Path) -> dict:
    return {"list": _set_list_field(root, "train", 2, 3, None)}


def covidx_binary_release(root: Path) -> dict:
    return {"list": _set_list_field(root, "test", 1, 2, "positive")}


def covidx_aliases_and_extra_columns(root: Path) -> dict:
    spelling = {"COVID-19": "covid19", "normal": "Normal", "pneumonia": "PNEUMONIA"}
    for split in ("train", "test"):
        path = _list_file(root, split)
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
        path.write_text("".join(f"{p} {f} {spelling[c]} {s} 1024x1024 extra\n" for p, f, c, s in lines))
    return {}


def _same_labels_as_clean(store: Store, facts: dict) -> None:
    clean = facts["clean"].set_index("id")
    got = store.manifest.set_index("id")
    assert got["label"].to_dict() == clean["label"].to_dict()
    assert set(got["label"]) == {"normal", "pneumonia", "COVID-19"}


def covidx_16bit_png(root: Path) -> dict:
    frame = _records("covidx", root)
    rel = frame.loc[frame["path"].str.endswith(".png"), "path"].iloc[0]
    Image.fromarray(RAMP12).save(root / rel)  # PIL mode I;16
    return {"id": rel}


def covidx_empty_test_list(root: Path) -> dict:
    path = _list_file(root, "test")
    path.write_text("\n\n")
    return {"list": path.name}


# ---------------------------------------------------------------- SIIM-ACR Pneumothorax

SIIM_LABELS = "train-rle.csv"
RLE = " EncodedPixels"  # the column name as the Kaggle file writes it


def _siim_rows(root: Path, image_id: str) -> np.ndarray:
    return np.flatnonzero(_table(root / SIIM_LABELS)["ImageId"].to_numpy() == image_id)


def siim_rle_past_end(root: Path) -> dict:
    labels = _table(root / SIIM_LABELS)
    first = _records("siim", root).iloc[0]  # the first image the store decodes
    image_id = first["id"]
    rows = _siim_rows(root, image_id)
    labels.loc[rows[0], RLE] = " 5 100000"  # the image has 128 x 128 = 16384 pixels
    _save(labels.drop(index=rows[1:]), root / SIIM_LABELS)
    return {"row": rows[0] + 2, "id": image_id, "path": first["path"]}


def siim_odd_rle(root: Path) -> dict:
    labels = _table(root / SIIM_LABELS)
    labels.loc[1, RLE] = " 10 4 7"
    _save(labels, root / SIIM_LABELS)
    return {"id": labels.loc[1, "ImageId"]}


def siim_non_integer_rle(root: Path) -> dict:
    labels = _table(root / SIIM_LABELS)
    labels.loc[2, RLE] = " 10 4.5"
    _save(labels, root / SIIM_LABELS)
    return {"id": labels.loc[2, "ImageId"]}


def siim_negative_and_mask(root: Path) -> dict:
    labels = _table(root / SIIM_LABELS)
    i = int(np.flatnonzero(labels[RLE].str.strip().to_numpy() != "-1")[0])
    extra = labels.iloc[[i]].assign(**{RLE: " -1"})
    _save(pd.concat([labels, extra], ignore_index=True), root / SIIM_LABELS)
    return {"row": len(labels) + 2, "id": labels.loc[i, "ImageId"]}


def siim_unlabelled_dicom(root: Path) -> dict:
    labels = _table(root / SIIM_LABELS)
    _save(labels[labels["ImageId"] != labels["ImageId"].iloc[0]], root / SIIM_LABELS)
    return {}


def siim_16bit_dicom(root: Path) -> dict:
    frame = _records("siim", root)
    row = frame[frame["target"] == 0].iloc[0]  # negative: the new size needs no mask
    write_dicom(root / row["path"], RAMP12, patient_id=row["group"])
    return {"id": row["id"]}


def _siim_16bit(store: Store, facts: dict) -> None:
    _scaled_12bit(store, facts)
    assert store.masks[_row_of(store, facts["id"])].max() == 0


def siim_truncated_dicom(root: Path) -> dict:
    rel = _records("siim", root)["path"].iloc[0]
    _truncate(root / rel)
    return {"file": rel}


# ---------------------------------------------------------------- Object-CXR


def _set_annotation(root: Path, file: str, index: int, value: str) -> dict:
    table = _table(root / file)
    table.loc[index, "annotation"] = value
    _save(table, root / file)
    return {"row": index + 2, "name": table.loc[index, "image_name"]}


def object_cxr_box_outside(root: Path) -> dict:
    return _set_annotation(root, "train.csv", 0, "0 10 10 5000 40")


def object_cxr_odd_coordinates(root: Path) -> dict:
    return _set_annotation(root, "train.csv", 1, "0 10 20 30")


def object_cxr_unknown_shape(root: Path) -> dict:
    return _set_annotation(root, "dev.csv", 2, "3 1 2 3 4")


def object_cxr_ellipse_three_points(root: Path) -> dict:
    return _set_annotation(root, "train.csv", 3, "2 1 1 9 9;1 0 0 10 10 20 20")


def object_cxr_missing_dev_image(root: Path) -> dict:
    table = _table(root / "dev.csv")
    (root / "dev" / table.loc[4, "image_name"]).unlink()
    return {"row": 6, "name": table.loc[4, "image_name"]}


def object_cxr_renamed_column(root: Path) -> dict:
    _save(_table(root / "train.csv").rename(columns={"image_name": "image"}), root / "train.csv")
    return {}


# ---------------------------------------------------------------- NIH ChestX-ray14

NIH_LABELS = "Data_Entry_2017_v2020.csv"


def _nih_set(root: Path, index: int, column: str, value: str) -> dict:
    table = _table(root / NIH_LABELS)
    table.loc[index, column] = value
    _save(table, root / NIH_LABELS)
    return {"name": table.loc[index, "Image Index"]}


def nih_unknown_label(root: Path) -> dict:
    return _nih_set(root, 0, "Finding Labels", "Pneumonia|COVID-19")


def nih_blank_labels(root: Path) -> dict:
    return _nih_set(root, 1, "Finding Labels", "")


def nih_not_in_lists(root: Path) -> dict:
    path = root / "train_val_list.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[1:]) + "\n")
    return {}


def nih_in_both_lists(root: Path) -> dict:
    name = (root / "train_val_list.txt").read_text().split()[5]
    with open(root / "test_list.txt", "a") as fh:
        fh.write(name + "\n")
    return {"name": name}


def nih_duplicate_image(root: Path) -> dict:
    table = _table(root / NIH_LABELS)
    _save(pd.concat([table, table.iloc[[7]]], ignore_index=True), root / NIH_LABELS)
    return {"row": len(table) + 2, "name": table.loc[7, "Image Index"]}


def nih_headerless(root: Path) -> dict:
    path = root / NIH_LABELS
    path.write_text("".join(path.read_text().splitlines(keepends=True)[1:]))
    return {}


def nih_truncated_png(root: Path) -> dict:
    rel = _records("nih", root)["path"].iloc[0]
    _truncate(root / rel)
    return {"file": rel}


def nih_missing_image(root: Path) -> dict:
    frame = _records("nih", root)
    (root / frame["path"].iloc[10]).unlink()
    return {"row": int(frame["label_row"].iloc[10]), "name": frame["id"].iloc[10]}


# ---------------------------------------------------------------- added with the checks of issue 16
# (labels against the image, degenerate images, byte-order marks, confined paths, one split per image)


def mimic_no_split_file(root: Path) -> dict:
    (root / MIMIC_SPLIT).unlink()
    return {}


def mimic_bom_report(root: Path) -> dict:
    rel = _records("mimic", root)["path"].iloc[0]
    report = root / f"{rel.rsplit('/', 1)[0]}.txt"
    report.write_bytes(b"\xef\xbb\xbf" + report.read_bytes())
    return {"id": Path(rel).stem}


def _same_text_as_clean(store: Store, facts: dict) -> None:
    i = _row_of(store, facts["id"])
    clean = facts["clean"].set_index("id")
    assert store.manifest.loc[i, "text"] == clean.loc[facts["id"], "text"] and store.manifest.loc[i, "text"]


def mimic_report_is_a_folder(root: Path) -> dict:
    study = _records("mimic", root)["path"].iloc[0].rsplit("/", 1)[0]
    (root / f"{study}.txt").unlink()
    (root / f"{study}.txt").mkdir()
    return {"report": f"{study}.txt"}


MIMIC_CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv.gz"


def mimic_bad_chexpert_value(root: Path) -> dict:
    table = _table(root / MIMIC_CHEXPERT)
    table.loc[3, "Edema"] = "2.0"
    _save(table, root / MIMIC_CHEXPERT)
    return {"row": 5}


def mimic_study_without_labels(root: Path) -> dict:
    table = _table(root / MIMIC_CHEXPERT)
    used = set(_records("mimic", root)["study_id"].astype(str))
    victim = next(s for s in table["study_id"] if s in used)
    _save(table[table["study_id"] != victim], root / MIMIC_CHEXPERT)
    return {"study": victim}


def mimic_finding_mask_missing(root: Path) -> dict:
    mask = finding_mask(_records("mimic", root)["id"].iloc[0])
    (root / mask).unlink()
    return {"mask": mask}


def mimic_finding_mask_wrong_size(root: Path) -> dict:
    mask = finding_mask(_records("mimic", root)["id"].iloc[0])
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(root / mask)
    return {"mask": mask}


def chexpert_one_pixel_jpeg(root: Path) -> dict:
    rel = _records("chexpert", root)["path"].iloc[0]
    Image.fromarray(np.full((1, 1), 120, np.uint8)).save(root / rel)
    return {}


def chexpert_constant_image(root: Path) -> dict:
    rel = _records("chexpert", root)["path"].iloc[1]
    Image.fromarray(np.full((SIZE, SIZE), 77, np.uint8)).save(root / rel, quality=100)
    return {}


def rsna_all_zero_dicom(root: Path) -> dict:
    rel = _rsna_first(root, 0)
    write_dicom(root / rel, np.zeros((SIZE, SIZE), np.uint8), patient_id=Path(rel).stem)
    return {}


def _rsna_set_box(root: Path, x: str, y: str, w: str, h: str) -> dict:
    labels = _table(root / RSNA_LABELS)
    pid = Path(_rsna_first(root, 1)).stem
    i = int(np.flatnonzero(labels["patientId"].to_numpy() == pid)[0])
    labels.loc[i, ["x", "y", "width", "height"]] = [x, y, w, h]
    _save(labels, root / RSNA_LABELS)
    return {"row": i + 2, "pid": pid}


def rsna_box_beyond_far_edge(root: Path) -> dict:
    return _rsna_set_box(root, "128.5", "40.0", "0.4", "20.0")  # 128 px image: starts past its right edge


def rsna_sub_pixel_box(root: Path) -> dict:
    return _rsna_set_box(root, "40.0", "40.0", "0.5", "20.0")


def rsna_bom_label_file(root: Path) -> dict:
    path = root / RSNA_LABELS
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return {}


def _same_ids_as_clean(store: Store, facts: dict) -> None:
    assert sorted(store.manifest["id"].astype(str)) == sorted(facts["clean"]["id"].astype(str))
    assert not any(str(i).startswith("\ufeff") for i in store.manifest["id"])


def covidx_parent_path(root: Path) -> dict:
    test_file = _list_file(root, "test").read_text().split()[1]
    return {"list": _set_list_field(root, "train", 1, 1, f"../test/{test_file}"), "name": f"../test/{test_file}"}


def covidx_absolute_path(root: Path) -> dict:
    return {"list": _set_list_field(root, "train", 2, 1, "/etc/passwd"), "name": "/etc/passwd"}


def covidx_same_image_in_train_and_test(root: Path) -> dict:
    test_line = _list_file(root, "test").read_text().splitlines()[0].split()
    shutil.copy(root / "test" / test_line[1], root / "train" / f"copy-{test_line[1]}")
    path = _list_file(root, "train")
    path.write_text(path.read_text() + f"copy-patient copy-{test_line[1]} {test_line[2]} {test_line[3]}\n")
    return {"copy": f"train/copy-{test_line[1]}", "original": f"test/{test_line[1]}"}


def object_cxr_parent_path(root: Path) -> dict:
    table = _table(root / "train.csv")
    dev = _table(root / "dev.csv")["image_name"].iloc[0]
    table.loc[0, "image_name"] = f"../dev/{dev}"
    _save(table, root / "train.csv")
    return {"name": f"../dev/{dev}"}


def object_cxr_zero_area_box(root: Path) -> dict:
    return _set_annotation(root, "train.csv", 0, "0 10 10 10 40")


def nih_symlinked_folder(root: Path) -> dict:
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    moved = root.parent / "elsewhere"
    shutil.move(str(folders[0]), moved)
    folders[0].symlink_to(moved, target_is_directory=True)
    return {}


def _same_count_as_clean(store: Store, facts: dict) -> None:
    assert len(store.manifest) == len(facts["clean"])


def nih_huge_png(root: Path) -> dict:
    rel = _records("nih", root)["path"].iloc[0]
    Image.new("L", (12_000, 12_000), 0).save(root / rel, compress_level=1)  # 144 M pixels, above the limit
    return {}


# ---------------------------------------------------------------- the corpus

ROW = r", row <row>: "
CASES: tuple[Case, ...] = (
    # MIMIC-CXR-JPG (pre-training images + reports)
    Case("mimic-truncated-jpeg", "mimic", "JPEG cut in half", mimic_truncated_jpeg,
         Error(r"/<file>: cannot decode image \(image file is truncated.*\)")),
    Case("mimic-empty-report", "mimic", "report .txt of a study is empty (0 bytes)", mimic_empty_report,
         Skip("report without findings/impression", 1)),
    Case("mimic-cp1252-report", "mimic", "report .txt written in cp1252/latin-1 (é as byte 0xE9)",
         mimic_cp1252_report, Error(r"/<report>: report is not UTF-8 \(invalid continuation byte at byte \d+\)")),
    Case("mimic-duplicate-dicom-id", "mimic", "a metadata row repeated (same dicom_id twice)",
         mimic_duplicate_dicom_id, Error(r"/mimic-cxr-2\.0\.0-metadata\.csv\.gz" + ROW + r"duplicate dicom_id '<id>'")),
    Case("mimic-missing-image", "mimic", "image listed in the metadata but its JPEG is missing", mimic_missing_image,
         Error(r"/mimic-cxr-2\.0\.0-metadata\.csv\.gz" + ROW + r"image <file> listed but missing")),
    Case("mimic-not-in-split-file", "mimic", "an image of the metadata has no row in the split file",
         mimic_not_in_split_file,
         Error(r"/mimic-cxr-2\.0\.0-metadata\.csv\.gz, row 2: dicom_id '<id>' has no row in "
               r"mimic-cxr-2\.0\.0-split\.csv\.gz")),
    Case("mimic-bad-split-value", "mimic", "split file says 'val' (expected train, validate or test)",
         mimic_bad_split_value,
         Error(r"/mimic-cxr-2\.0\.0-split\.csv\.gz, row 4: split must be one of train, validate, test, got 'val'")),
    Case("mimic-bad-subject-id", "mimic", "subject_id written as the folder name 'p1...'", mimic_bad_subject_id,
         Error(r"/mimic-cxr-2\.0\.0-metadata\.csv\.gz, row 2: subject_id must be a non-negative integer, "
               r"got '<value>'")),
    Case("mimic-blank-view", "mimic", "ViewPosition blank for a used image (the real file has such rows)",
         mimic_blank_view, Skip("non-frontal view", 1)),
    Case("mimic-truncated-gzip", "mimic", "metadata .csv.gz cut in half", mimic_truncated_gzip,
         Error(r"/mimic-cxr-2\.0\.0-metadata\.csv\.gz: cannot decompress \(EOFError: .*\)")),
    Case("mimic-empty-folder", "mimic", "dataset folder exists but is empty", empty_folder,
         Error(r"/mimic-cxr-2\.0\.0-metadata\.csv\.gz: label file not found")),
    # CheXpert
    Case("chexpert-uncertain-and-blank", "chexpert",
         "competition labels -1 (uncertain) and blank (not mentioned) on one row", chexpert_uncertain_and_blank,
         Handled(_chexpert_policy, "uncertain -> 1 for Atelectasis, Edema, Pleural Effusion (U-Ones), "
                                   "-> 0 for Cardiomegaly, Consolidation (U-Zeros); blank -> 0")),
    Case("chexpert-label-out-of-range", "chexpert", "Edema = 2.0", chexpert_label_out_of_range,
         Error(r"/train\.csv" + ROW + r"Edema must be 1\.0, 0\.0, -1\.0 or blank, got 2\.0")),
    Case("chexpert-duplicate-path", "chexpert", "a train.csv row repeated (same Path twice)",
         chexpert_duplicate_path, Error(r"/train\.csv" + ROW + r"image <id> listed twice")),
    Case("chexpert-wrong-separator", "chexpert", "train.csv saved with ';' separators (wrong header)",
         chexpert_semicolons, Error(r"/train\.csv: missing required column\(s\) Path, Frontal/Lateral, .*")),
    Case("chexpert-header-only", "chexpert", "train.csv has the header but no rows (empty dataset)",
         chexpert_header_only, Error(r"/train\.csv: no rows")),
    Case("chexpert-missing-valid-image", "chexpert", "an image of valid.csv is missing",
         chexpert_missing_valid_image, Error(r"/valid\.csv" + ROW + r"image <file> listed but missing")),
    # RSNA Pneumonia
    Case("rsna-dicom-without-pixel-data", "rsna", "DICOM with its PixelData element removed", rsna_no_pixel_data,
         Error(r"/<file>: DICOM has no pixel data")),
    Case("rsna-monochrome1", "rsna", "DICOM with PhotometricInterpretation MONOCHROME1 (0 = white)", rsna_monochrome1,
         Handled(_inverted, "inverted after scaling: store pixel = 255 - value (8-bit ramp checked pixel by pixel)")),
    Case("rsna-box-outside-image", "rsna", "box 5000 px wide on a 128 px image", rsna_box_outside,
         Error(r"/stage_2_train_labels\.csv" + ROW + r"box \[[\d., ]+\] outside the 128x128 image "
               r"stage_2_train_images/<pid>\.dcm")),
    Case("rsna-repeated-box-row", "rsna",
         "a box row repeated exactly (one row per box is the format, but the same box twice would count twice "
         "as ground truth)", rsna_repeated_box_row,
         Error(r"/stage_2_train_labels\.csv" + ROW + r"patient <pid>: row repeats row <first>")),
    Case("rsna-negative-and-positive-rows", "rsna", "a Target 0 row added for a patient with boxes",
         rsna_negative_and_positive_rows,
         Error(r"/stage_2_train_labels\.csv" + ROW + r"patient <pid> has a Target 0 row and another row")),
    Case("rsna-blank-target", "rsna", "Target cell blank (NaN label)", rsna_blank_target,
         Error(r"/stage_2_train_labels\.csv, row 5: Target must be 0 or 1, got nan")),
    Case("rsna-blank-patient-id", "rsna", "patientId cell blank", rsna_blank_patient_id,
         Error(r"/stage_2_train_labels\.csv, row 2: empty patientId")),
    Case("rsna-renamed-column", "rsna", "header says patient_id instead of patientId", rsna_renamed_column,
         Error(r"/stage_2_train_labels\.csv: missing required column\(s\) patientId \(found: patient_id, .*\)")),
    Case("rsna-header-only", "rsna", "label file with the header and no rows (empty dataset)", rsna_header_only,
         Error(r"/stage_2_train_labels\.csv: no rows")),
    # COVIDx
    Case("covidx-unknown-class", "covidx", "class 'viral-pneumonia' on line 3", covidx_unknown_class,
         Error(r"/<list>, row 3: unknown class 'viral-pneumonia' \(expected one of normal, pneumonia, COVID-19\)")),
    Case("covidx-three-fields", "covidx", "line 2 has 3 fields (source missing)", covidx_three_fields,
         Error(r"/<list>, row 2: expected at least 4 space-separated columns \(patient id, "
               r"filename, class, source\), got 3")),
    Case("covidx-binary-release", "covidx", "class 'positive' (binary COVIDx CXR-2/3 release)",
         covidx_binary_release, Error(r"/<list>, row 1: class 'positive' is from a binary .*")),
    Case("covidx-aliases-and-extra-columns", "covidx",
         "classes spelled covid19 / Normal / PNEUMONIA, two extra columns per line", covidx_aliases_and_extra_columns,
         Handled(_same_labels_as_clean, "classes mapped to normal, pneumonia, COVID-19; extra columns ignored")),
    Case("covidx-16bit-png", "covidx", "16-bit grey PNG (values 0..4095)", covidx_16bit_png,
         Handled(_scaled_12bit, "scaled by 255 / max like a DICOM: round(v * 255 / 4095), not clipped at 255")),
    Case("covidx-empty-test-list", "covidx", "test list holds only blank lines (empty dataset)",
         covidx_empty_test_list, Error(r"/<list>: no rows")),
    # SIIM-ACR Pneumothorax
    Case("siim-rle-past-end", "siim", "RLE run ending past the last pixel of the image", siim_rle_past_end,
         Error(r"/train-rle\.csv" + ROW + r"image <id> \(<path>\): run ends at pixel 100005, past the end of the "
               r"128x128 image .*")),
    Case("siim-odd-rle", "siim", "RLE with an odd count of integers", siim_odd_rle,
         Error(r"/train-rle\.csv, row 3: image <id>: EncodedPixels has an odd number of integers \(3\)")),
    Case("siim-non-integer-rle", "siim", "RLE with a non-integer token", siim_non_integer_rle,
         Error(r"/train-rle\.csv, row 4: image <id>: EncodedPixels is not integer pairs \(token '4\.5'\)")),
    Case("siim-negative-and-mask", "siim", "a -1 row added for an image with a mask", siim_negative_and_mask,
         Error(r"/train-rle\.csv" + ROW + r"image <id>: -1 \(no pneumothorax\) and a mask on different rows")),
    Case("siim-unlabelled-dicom", "siim", "a DICOM without a row in train-rle.csv", siim_unlabelled_dicom,
         Skip("DICOM without label row", 1)),
    Case("siim-16bit-dicom", "siim", "16-bit DICOM, 12 bits stored (values 0..4095)", siim_16bit_dicom,
         Handled(_siim_16bit, "scaled by 255 / max: round(v * 255 / 4095) pixel by pixel; empty mask kept")),
    Case("siim-truncated-dicom", "siim", "DICOM cut in half (header intact, pixel data short)",
         siim_truncated_dicom, Error(r"/<file>: cannot decode DICOM pixel data \(ValueError: .*\)")),
    # Object-CXR
    Case("object-cxr-box-outside-image", "object_cxr", "rectangle reaching x = 5000 on a 128 px image",
         object_cxr_box_outside,
         Error(r"/train\.csv" + ROW + r"box \[10, 10, 5000, 40\] outside the \d+x\d+ image train/<name>")),
    Case("object-cxr-odd-coordinates", "object_cxr", "annotation '0 10 20 30' (odd number of coordinates)",
         object_cxr_odd_coordinates, Error(r"/train\.csv" + ROW + r"odd number of coordinates \(3\)")),
    Case("object-cxr-unknown-shape", "object_cxr", "object type 3 (only 0, 1, 2 exist)", object_cxr_unknown_shape,
         Error(r"/dev\.csv" + ROW + r"bad object type '3'")),
    Case("object-cxr-ellipse-three-points", "object_cxr", "second object: ellipse with 3 points",
         object_cxr_ellipse_three_points, Error(r"/train\.csv" + ROW + r"ellipse needs exactly 2 points, got 3")),
    Case("object-cxr-missing-dev-image", "object_cxr", "an image of dev.csv is missing", object_cxr_missing_dev_image,
         Error(r"/dev\.csv" + ROW + r"image dev/<name> listed but missing")),
    Case("object-cxr-renamed-column", "object_cxr", "header says image instead of image_name",
         object_cxr_renamed_column, Error(r"/train\.csv: missing required column\(s\) image_name \(found: image, annotation\)")),
    # NIH ChestX-ray14
    Case("nih-unknown-label", "nih", "Finding Labels 'Pneumonia|COVID-19'", nih_unknown_label,
         Error(r"/Data_Entry_2017_v2020\.csv, row 2: unknown label 'COVID-19' in Finding Labels 'Pneumonia\|COVID-19' .*")),
    Case("nih-blank-labels", "nih", "Finding Labels blank (NaN label)", nih_blank_labels,
         Error(r"/Data_Entry_2017_v2020\.csv, row 3: Finding Labels is empty .*")),
    Case("nih-not-in-lists", "nih", "an image in neither train_val_list.txt nor test_list.txt", nih_not_in_lists,
         Skip("not in train_val_list.txt or test_list.txt", 1)),
    Case("nih-in-both-lists", "nih", "an image in train_val_list.txt and test_list.txt", nih_in_both_lists,
         Error(r"/test_list\.txt, row \d+: image <name> is also in train_val_list\.txt")),
    Case("nih-duplicate-image", "nih", "a label row repeated (same Image Index twice)", nih_duplicate_image,
         Error(r"/Data_Entry_2017_v2020\.csv" + ROW + r"image <name> listed twice")),
    Case("nih-headerless", "nih", "label file without its header line", nih_headerless,
         Error(r"/Data_Entry_2017_v2020\.csv: missing required column\(s\) Image Index, Finding Labels, Patient ID .*")),
    Case("nih-truncated-png", "nih", "PNG cut in half", nih_truncated_png,
         Error(r"/<file>: cannot decode image \(image file is truncated.*\)")),
    Case("nih-missing-image", "nih", "image listed but its PNG is missing", nih_missing_image,
         Error(r"/Data_Entry_2017_v2020\.csv" + ROW + r"image <name> listed but missing")),
    # added with the checks of issue 16
    Case("mimic-no-split-file", "mimic", "mimic-cxr-2.0.0-split.csv.gz missing (every image would count as training)",
         mimic_no_split_file, Error(r"/mimic-cxr-2\.0\.0-split\.csv\.gz: official split file missing")),
    Case("mimic-bom-report", "mimic", "a report starting with a UTF-8 byte-order mark", mimic_bom_report,
         Handled(_same_text_as_clean, "the mark is removed before parsing: the first section is kept, text as clean")),
    Case("mimic-report-is-a-folder", "mimic", "a folder where a report .txt belongs", mimic_report_is_a_folder,
         Error(r"/<report>: cannot read report \(Is a directory\)")),
    Case("mimic-bad-chexpert-value", "mimic", "a CheXpert label of 2.0 in mimic-cxr-2.0.0-chexpert.csv.gz",
         mimic_bad_chexpert_value,
         Error(r"/mimic-cxr-2\.0\.0-chexpert\.csv\.gz" + ROW + r"Edema must be 1, 0, -1 or empty, got 2\.0")),
    Case("mimic-study-without-labels", "mimic", "a used study missing from mimic-cxr-2.0.0-chexpert.csv.gz",
         mimic_study_without_labels, Error(r"/mimic-cxr-2\.0\.0-chexpert\.csv\.gz: study <study> has no row")),
    Case("mimic-finding-mask-missing", "mimic", "the phantom's finding mask of a used image deleted",
         mimic_finding_mask_missing, Error(r"/<mask>: finding mask missing \(1 of \d+ frontal images have none\)")),
    Case("mimic-finding-mask-wrong-size", "mimic", "a finding mask of 30 x 20 px beside its larger image",
         mimic_finding_mask_wrong_size, Error(r"/<mask>: finding mask is 30x20 px, its image \d+x\d+")),
    Case("chexpert-one-pixel-jpeg", "chexpert", "a 1 x 1 JPEG", chexpert_one_pixel_jpeg,
         Skip("image smaller than 16 px on a side", 1)),
    Case("chexpert-constant-image", "chexpert", "an image of one grey value", chexpert_constant_image,
         Skip("constant image (one grey value)", 1)),
    Case("rsna-all-zero-dicom", "rsna", "a DICOM whose pixels are all 0", rsna_all_zero_dicom,
         Skip("constant image (one grey value)", 1)),
    Case("rsna-box-beyond-far-edge", "rsna", "a 0.4 px wide box starting past the image's right edge",
         rsna_box_beyond_far_edge,
         Error(r"/stage_2_train_labels\.csv" + ROW + r"box \[[\d., ]+\] less than a pixel wide or high inside the "
               r"128x128 image stage_2_train_images/<pid>\.dcm")),
    Case("rsna-sub-pixel-box", "rsna", "a box 0.5 px wide inside the image", rsna_sub_pixel_box,
         Error(r"/stage_2_train_labels\.csv" + ROW + r"box \[[\d., ]+\] less than a pixel wide or high inside")),
    Case("rsna-bom-label-file", "rsna", "label CSV starting with a UTF-8 byte-order mark", rsna_bom_label_file,
         Handled(_same_ids_as_clean, "the mark is removed: the same patients as the clean file, none with \\ufeff")),
    Case("covidx-parent-path", "covidx", "train list names ../test/<a test image>", covidx_parent_path,
         Error(r"/<list>, row 1: file name '<name>' must be a plain path inside its folder")),
    Case("covidx-absolute-path", "covidx", "train list names /etc/passwd", covidx_absolute_path,
         Error(r"/<list>, row 2: file name '<name>' must be a plain path inside its folder")),
    Case("covidx-same-image-in-train-and-test", "covidx", "a test image copied into train/ under another name",
         covidx_same_image_in_train_and_test,
         Error(r": image <copy> \(train\) has the same pixels as <original> \(test\): one image in two splits|"
               r": image <original> \(test\) has the same pixels as <copy> \(train\): one image in two splits")),
    Case("object-cxr-parent-path", "object_cxr", "train.csv names ../dev/<a dev image>", object_cxr_parent_path,
         Error(r"/train\.csv, row 2: file name '<name>' must be a plain path inside its folder")),
    Case("object-cxr-zero-area-box", "object_cxr", "a rectangle with x1 = x2 (zero area)", object_cxr_zero_area_box,
         Error(r"/train\.csv" + ROW + r"box \[10, 10, 10, 40\] less than a pixel wide or high inside")),
    Case("nih-symlinked-folder", "nih", "an image folder that is a symbolic link to another place",
         nih_symlinked_folder, Handled(_same_count_as_clean, "the link is followed: every image is found")),
    Case("nih-huge-png", "nih", "a 12,000 x 12,000 PNG (PIL's decompression-bomb guard)", nih_huge_png,
         Skip("image larger than 100,000,000 pixels", 1)),
)


def fill(pattern: str, facts: dict) -> str:
    """``pattern`` with every ``<name>`` replaced by the escaped fact ``name``."""
    return re.sub(r"<(\w+)>", lambda m: re.escape(str(facts[m.group(1)])), pattern)


def readable(pattern: str) -> str:
    """A message pattern as a person reads it: numbers as N, wildcards as ..., no backslashes."""
    for regex, text in ((r"\[[\d., ]+\]", "[x1, y1, x2, y2]"), (r"\d+x\d+", "WxH"), (r"\d+", "N"),
                        (r".*", "..."), (r".+", "...")):
        pattern = pattern.replace(regex, text)
    return pattern.replace("\\", "")


def doc_table() -> str:
    """The corpus as a markdown table (case | reader | outcome), for the README."""
    lines = ["| case | reader | outcome |", "| --- | --- | --- |"]
    for case in CASES:
        out = case.outcome
        if isinstance(out, Error):
            text = f"error: `<root>{readable(out.pattern)}`"
        elif isinstance(out, Skip):
            text = f'skipped, counted in store.json "skipped" as "{out.reason}"'
        else:
            text = f"handled: {out.doc}"
        cells = (f"{case.what} (`{case.id}`)", case.reader, text)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the test

_CLEAN: dict[str, pd.DataFrame] = {}


def _clean_records(phantom_root: Path, name: str) -> pd.DataFrame:
    if name not in _CLEAN:
        _CLEAN[name] = _records(name, phantom_root / name)
    return _CLEAN[name]


def test_corpus_covers_every_reader():
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)
    readers = {c.reader for c in CASES}
    assert readers == {"mimic", "chexpert", "rsna", "covidx", "siim", "object_cxr", "nih"}
    for kind in (Error, Skip, Handled):
        assert any(isinstance(c.outcome, kind) for c in CASES)
    assert doc_table().count("\n") == len(CASES) + 2


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, phantom_root, tmp_path, capsys):
    root = tmp_path / case.reader
    shutil.copytree(phantom_root / case.reader, root)
    facts = case.corrupt(root) or {}
    out_dir = tmp_path / "out"
    store = out_dir / "store"
    argv = ["--dataset", case.reader, "--root", str(root), "--out", str(store), "--size", str(SIZE)]
    capsys.readouterr()

    if isinstance(case.outcome, Error):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(prepare.main, argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2, err
        assert "Traceback" not in err
        # progress bars redraw with \r; what is left once they are gone is one error line
        lines = [line for line in re.split(r"[\r\n]", err) if line.strip()]
        assert [line for line in lines if line.startswith("error:")] == [lines[-1]], err
        expected = "^error: " + re.escape(str(root)) + fill(case.outcome.pattern, facts)
        assert re.search(expected, lines[-1]), f"\n{lines[-1]}\ndoes not match\n{expected}"
        assert not store.exists()
        assert not out_dir.exists() or not any(out_dir.iterdir())  # no temporary folder left behind
        return

    run_cli_code = prepare.main(argv)
    assert run_cli_code == 0
    info = json.loads((store / "store.json").read_text())
    opened = Store.open(store)
    clean = _clean_records(phantom_root, case.reader)
    if isinstance(case.outcome, Skip):
        reason, n = case.outcome.reason, case.outcome.count
        before = clean.attrs.get("skipped", {})
        assert info["skipped"].get(reason, 0) == before.get(reason, 0) + n
        assert {k: v for k, v in info["skipped"].items() if k != reason} == \
               {k: v for k, v in before.items() if k != reason}
        assert info["count"] == len(opened.manifest) == len(clean) - n
        assert f"{info['skipped'][reason]} {reason}" in capsys.readouterr().out
    else:
        assert info["count"] == len(clean) and info["skipped"] == clean.attrs.get("skipped", {})
        case.outcome.check(opened, {**facts, "clean": clean})


def test_documented_outcomes_match_the_corpus():
    """docs/bad_inputs.md is the corpus's documentation: it must list exactly these cases."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md").read_text()
    assert doc_table() in doc, "docs/bad_inputs.md is out of date: paste tests.test_bad_inputs.doc_table() into it"
