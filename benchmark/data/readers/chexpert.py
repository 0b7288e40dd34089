"""CheXpert v1.0 (full size or ``-small``) from its raw layout.

The dataset folder holds ``train.csv``, ``valid.csv`` and the images
``train/patientXXXXX/studyN/viewM_frontal.jpg`` (and ``valid/...``). The ``Path``
column starts with the folder's release name (``CheXpert-v1.0-small/train/...`` or
``CheXpert-v1.0/train/...``); both, and paths without that prefix, are accepted.

Targets are the five competition observations. Each label cell is 1.0, 0.0, -1.0
(uncertain) or blank (not mentioned); the uncertainty policy is the one the CheXpert
paper found best per observation: U-Ones for Atelectasis, Edema and Pleural Effusion,
U-Zeros for Cardiomegaly and Consolidation; blank is 0. Any other value, in any of the
14 observation columns, is an error naming file and row.
Only frontal images are kept; laterals are counted in ``attrs["skipped"]``.

``train.csv`` rows have ``official_split`` "train"; ``valid.csv`` rows are "test",
since the official validation set is the test set of the MGCA protocol.
``id`` is the path without the release folder (unique, and equal to ``path``),
``group`` the patient folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import DataError
from benchmark.data.readers.base import ImageFileReader, cell, choice_column, csv_row, read_table

TRAIN_FILE = "train.csv"
VALID_FILE = "valid.csv"
#: column order of the released CSVs
CHEXPERT_COLUMNS: tuple[str, ...] = (
    "Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", "No Finding", "Enlarged Cardiomediastinum",
    "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis",
    "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices",
)
OBSERVATIONS: tuple[str, ...] = CHEXPERT_COLUMNS[5:]
COMPETITION_LABELS: tuple[str, ...] = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
#: what an uncertain (-1) mention becomes, per competition label
UNCERTAIN_AS: dict[str, int] = {"Atelectasis": 1, "Cardiomegaly": 0, "Consolidation": 0, "Edema": 1,
                                "Pleural Effusion": 1}
REQUIRED = ("Path", "Frontal/Lateral", *COMPETITION_LABELS)
VIEWS = ("Frontal", "Lateral")
# optional release folder, then <split folder>/<patient>/<study>/<file>
_PATH = re.compile(r"^(?:CheXpert-v1\.0[^/]*/)?([^/]+/(patient\d+)/study\d+/[^/]+\.jpg)$")


def label_values(values: pd.Series, column: str, path: Path) -> np.ndarray:
    """A label column as floats (NaN for blank); a value outside {1, 0, -1, blank} is an error naming the row."""
    blank = values.isna().to_numpy()
    if not pd.api.types.is_numeric_dtype(values):
        blank = blank | values.astype(str).str.strip().eq("").to_numpy()
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~blank & ~np.isin(numeric, (-1.0, 0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"{column} must be 1.0, 0.0, -1.0 or blank, got {cell(values.iloc[i])}", row=csv_row(i))
    return np.where(blank, np.nan, numeric)


def resolve_labels(values: pd.Series, column: str, path: Path) -> np.ndarray:
    """One competition label column -> 0/1 under the uncertainty policy (blank is 0)."""
    numeric = label_values(values, column, path)
    out = np.where(numeric == 1.0, 1, 0)
    if UNCERTAIN_AS.get(column, 0) == 1:
        out[numeric == -1.0] = 1
    return out.astype(np.int64)


def strat_key(table: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    """Stratification key: the 0/1 values of ``columns`` joined, e.g. "01001"."""
    digits = (table[list(columns)].to_numpy(dtype=np.uint8) + ord("0")).astype(np.uint8)
    keys = np.ascontiguousarray(digits).view(f"S{len(columns)}").ravel().astype(str)
    return pd.Series(keys, index=table.index, dtype=object)


def _read_csv(path: Path, split: str) -> tuple[pd.DataFrame, int]:
    """Frontal rows of one CheXpert CSV as a label table, and the number of laterals left out."""
    raw = read_table(path, REQUIRED, dtype={"Path": str, "Frontal/Lateral": str})
    ids, groups = [], []
    for i, value in enumerate(raw["Path"].tolist()):
        match = _PATH.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise DataError(path, f"Path {value!r} is not [CheXpert-v1.0*/]<split>/patientN/studyN/<view>.jpg",
                            row=csv_row(i))
        ids.append(match.group(1))
        groups.append(match.group(2))
    view = choice_column(raw["Frontal/Lateral"], VIEWS, path, "Frontal/Lateral must be Frontal or Lateral")
    table = pd.DataFrame({"id": ids, "group": groups, "official_split": split}, dtype=object)
    for column in OBSERVATIONS:
        if column in raw and column not in COMPETITION_LABELS:
            label_values(raw[column], column, path)  # unused here, but a corrupt cell means a corrupt file
    for column in COMPETITION_LABELS:
        table[column] = resolve_labels(raw[column], column, path)
    table["strat"] = strat_key(table, COMPETITION_LABELS)
    if "AP/PA" in raw:
        table["view"] = raw["AP/PA"].fillna("").astype(str)
    table["label_file"] = path.name
    table["label_row"] = np.arange(len(raw)) + csv_row(0)
    frontal = (view == "Frontal").to_numpy()
    return table[frontal].reset_index(drop=True), int((~frontal).sum())


def chexpert_label_table(path: Path) -> pd.DataFrame:
    """Frontal images with the five competition labels, from the label CSV(s) alone.

    ``path`` is ``train.csv`` (or torchxrayvision's ``chexpert_train.csv.gz``, or the
    dataset folder); ``valid.csv`` beside it is read too when present, as the official
    test split. Columns: ``id``, ``group``, ``official_split``, the labels, ``strat``
    (the labels' 0/1 pattern, e.g. "10011"), ``view``, ``label_file``, ``label_row``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / TRAIN_FILE
    is_valid = path.name.lower().startswith("valid")
    parts = [(path, "test" if is_valid else "train")]
    valid_path = path.parent / VALID_FILE
    if not is_valid and valid_path.is_file():
        parts.append((valid_path, "test"))
    frames, laterals = [], 0
    for file, split in parts:
        frame, n_lateral = _read_csv(file, split)
        frames.append(frame)
        laterals += n_lateral
    table = pd.concat(frames, ignore_index=True)
    dup = table["id"].duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        where = path.parent / table["label_file"].iloc[i]
        raise DataError(where, f"image {table['id'].iloc[i]} listed twice", row=int(table["label_row"].iloc[i]))
    if table.empty:
        raise DataError(path, "no frontal image")
    table.attrs["skipped"] = {"lateral view": laterals} if laterals else {}
    return table


class CheXpertReader(ImageFileReader):
    name = "chexpert"
    task_columns = COMPETITION_LABELS

    def records(self, root: Path) -> pd.DataFrame:
        root = self.check_root(root)
        if not (root / VALID_FILE).is_file():
            raise DataError(root / VALID_FILE, "label file not found (the official valid set is the test split)")
        table = chexpert_label_table(root / TRAIN_FILE)
        skipped = dict(table.attrs.get("skipped", {}))
        for rel, file, row in zip(table["id"], table["label_file"], table["label_row"]):
            if not (root / rel).is_file():
                raise DataError(root / file, f"image {rel} listed but missing", row=int(row))
        table["path"] = table["id"]
        table.attrs["skipped"] = skipped
        return table

