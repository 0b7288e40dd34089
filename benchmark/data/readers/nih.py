"""NIH ChestX-ray14 from its raw layout.

The root holds the label file (``Data_Entry_2017.csv`` from the 2017 release or
Kaggle, ``Data_Entry_2017_v2020.csv`` from the NIH box; ``.csv.gz`` is fine too),
the official lists ``train_val_list.txt`` and ``test_list.txt`` (one file name per
line) and the PNGs, either in ``images/`` or split over ``images_001/images/`` ...
``images_012/images/``; images are found recursively by file name. When several
label files are present the name sorting last (the v2020 revision) is read.

The header line has commas inside brackets (``OriginalImage[Width,Height]``), so
pandas sees those two fields as four columns; only ``Image Index``, ``Finding Labels``
and ``Patient ID`` are read. ``Finding Labels`` is "|"-separated or "No Finding".
An image in ``test_list.txt`` is official "test", in ``train_val_list.txt`` "train";
in neither it is skipped and counted, in both it is an error. Without the lists
(torchxrayvision ships the label file alone) every image is "train".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import DataError, first_line
from benchmark.data.readers.base import ImageFileReader, csv_row, read_table, walk_files
from benchmark.data.readers.chexpert import strat_key

NIH_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
    "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia",
)
NO_FINDING = "No Finding"
LABEL_GLOB = "Data_Entry_2017*.csv*"
TRAIN_LIST = "train_val_list.txt"
TEST_LIST = "test_list.txt"
REQUIRED = ("Image Index", "Finding Labels", "Patient ID")
NOT_LISTED = f"not in {TRAIN_LIST} or {TEST_LIST}"


def find_label_file(root: Path) -> Path:
    """The ``Data_Entry_2017*.csv[.gz]`` in ``root``; with several, the name sorting last."""
    matches = sorted(p for p in Path(root).glob(LABEL_GLOB) if p.is_file() and p.name.endswith((".csv", ".csv.gz")))
    if not matches:
        raise DataError(root, "no NIH label file (Data_Entry_2017*.csv or .csv.gz) in this folder")
    return matches[-1]


def read_image_list(path: Path) -> dict[str, int]:
    """File name -> 1-based line of an official list; blank lines are ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as err:
        raise DataError(path, f"cannot read list ({first_line(err)})") from None
    out: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if name:
            out.setdefault(name, line_no)
    return out


def parse_findings(text: object, path: Path, row: int) -> list[str]:
    """``"A|B"`` -> ["A", "B"]; "No Finding" -> []; unknown or mixed labels are errors naming the row."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(path, "Finding Labels is empty (expected labels joined by '|' or 'No Finding')", row=row)
    names = [n.strip() for n in text.split("|")]
    if names == [NO_FINDING]:
        return []
    for name in names:
        if name == NO_FINDING:
            raise DataError(path, f"'No Finding' combined with other labels in {text!r}", row=row)
        if name not in NIH_LABELS:
            raise DataError(path, f"unknown label {name!r} in Finding Labels {text!r} "
                                  f"(expected: {', '.join(NIH_LABELS)} or No Finding)", row=row)
    return names


def _official_split(table: pd.DataFrame, folder: Path) -> tuple[pd.Series, int]:
    """Split from the official lists beside the label file; rows in neither list -> None."""
    train_path, test_path = folder / TRAIN_LIST, folder / TEST_LIST
    if not train_path.is_file() and not test_path.is_file():
        return pd.Series("train", index=table.index, dtype=object), 0
    for present, absent in ((train_path, test_path), (test_path, train_path)):
        if present.is_file() and not absent.is_file():
            raise DataError(absent, f"list file not found (needed beside {present.name})")
    train, test = read_image_list(train_path), read_image_list(test_path)
    both = sorted(set(train) & set(test), key=lambda n: test[n])
    if both:
        raise DataError(test_path, f"image {both[0]} is also in {TRAIN_LIST} (row {train[both[0]]})",
                        row=test[both[0]])
    names = table["id"]
    split = pd.Series(np.where(names.isin(test), "test", np.where(names.isin(train), "train", None)),
                      index=table.index, dtype=object)
    return split, int(split.isna().sum())


def nih_label_table(path: Path) -> pd.DataFrame:
    """One row per image with the 14 labels, from the label file (and the lists beside it, if any).

    ``path`` is the ``Data_Entry_2017*.csv[.gz]`` file or the folder holding it.
    Columns: ``id`` (image file name), ``group`` (Patient ID), ``official_split``, the
    14 labels (0/1), ``strat`` (their 0/1 pattern), ``view``, ``label_row``.
    """
    path = Path(path)
    if path.is_dir():
        path = find_label_file(path)
    raw = read_table(path, REQUIRED, dtype={"Image Index": str, "Finding Labels": str, "Patient ID": str})
    names = raw["Image Index"].fillna("").astype(str).str.strip()
    bad = names.eq("").to_numpy()
    if bad.any():
        raise DataError(path, "Image Index is empty", row=csv_row(int(np.flatnonzero(bad)[0])))
    dup = names.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        raise DataError(path, f"image {names.iloc[i]} listed twice", row=csv_row(i))
    patients = raw["Patient ID"].fillna("").astype(str).str.strip()
    bad = patients.eq("").to_numpy()
    if bad.any():
        raise DataError(path, "Patient ID is empty", row=csv_row(int(np.flatnonzero(bad)[0])))
    column_of = {name: j for j, name in enumerate(NIH_LABELS)}
    labels = np.zeros((len(raw), len(NIH_LABELS)), dtype=np.int64)
    for i, text in enumerate(raw["Finding Labels"].tolist()):
        for name in parse_findings(text, path, csv_row(i)):
            labels[i, column_of[name]] = 1
    table = pd.DataFrame({"id": names, "group": patients})
    split, unlisted = _official_split(table, path.parent)
    table["official_split"] = split
    for j, name in enumerate(NIH_LABELS):
        table[name] = labels[:, j]
    table["strat"] = strat_key(table, NIH_LABELS)
    if "View Position" in raw:
        table["view"] = raw["View Position"].fillna("").astype(str)
    table["label_row"] = np.arange(len(raw)) + csv_row(0)
    table = table[table["official_split"].notna()].reset_index(drop=True)
    if table.empty:
        raise DataError(path, f"no image is in {TRAIN_LIST} or {TEST_LIST}")
    table.attrs["skipped"] = {NOT_LISTED: unlisted} if unlisted else {}
    return table


def index_images(root: Path) -> dict[str, str]:
    """PNG file name -> path relative to ``root``, searched recursively; a name found twice is an error."""
    found: dict[str, str] = {}
    for path in walk_files(Path(root), ".png"):
        rel, name = path.relative_to(root).as_posix(), path.name
        if name in found:
            raise DataError(Path(root) / rel, f"image file name also found at {found[name]}")
        found[name] = rel
    return found


class NihChestXray14Reader(ImageFileReader):
    name = "nih"
    task_columns = NIH_LABELS

    def records(self, root: Path) -> pd.DataFrame:
        root = self.check_root(root)
        label_path = find_label_file(root)
        table = nih_label_table(label_path)
        skipped = dict(table.attrs.get("skipped", {}))
        files = index_images(root)
        paths = []
        for name, row in zip(table["id"], table["label_row"]):
            if name not in files:
                raise DataError(label_path, f"image {name} listed but missing (searched {root} recursively)",
                                row=int(row))
            paths.append(files[name])
        table["path"] = paths
        table.attrs["skipped"] = skipped
        return table

