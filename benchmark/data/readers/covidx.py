"""COVIDx (COVID-Net's chest X-ray set, 3 classes) from its raw layout.

The release is two space-separated lists without header, one image per line::

    <patient id> <filename> <class> <source> [more columns in some releases]

e.g. ``3 SARS-CoV-2-Figure1.jpeg COVID-19 cohen``; images lie in ``train/`` and
``test/``. File names changed between releases (``train_COVIDx9A.txt``,
``train_COVIDx_CXR-3.txt``, ...), so the root must hold exactly one ``train*.txt`` and
one ``test*.txt``. Only the first four columns are read; extra ones are tolerated.

Targets: ``label`` (canonical class name), ``target`` (index into :data:`CLASSES`),
``official_split`` from the list a line came from. ``group`` is the list's patient id.
``label_row`` is the 1-based line number in the list (there is no header line).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import DataError
from benchmark.data.readers.base import ImageFileReader, confined_name

CLASSES: tuple[str, ...] = ("normal", "pneumonia", "COVID-19")
# Lower-cased spellings met in COVIDx releases and derived copies -> canonical class.
CLASS_ALIASES: dict[str, str] = {
    "normal": "normal",
    "pneumonia": "pneumonia",
    "covid-19": "COVID-19",
    "covid19": "COVID-19",
    "covid_19": "COVID-19",
    "covid": "COVID-19",
}
# The binary releases (COVIDx CXR-2/3: "positive"/"negative") cannot give the 3-class task:
# "negative" mixes normal and pneumonia. They get their own error message.
BINARY_LABELS = frozenset({"positive", "negative"})
LIST_COLUMNS = ["patient_id", "filename", "label", "source"]
SPLIT_DIRS = {"train": "train", "test": "test"}


def find_list(folder: Path, split: str, required: bool = True) -> Path | None:
    """The one ``<split>*.txt`` list in ``folder``; several (or none, when required) is an error."""
    matches = sorted(p for p in Path(folder).glob(f"{split}*.txt") if p.is_file())
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise DataError(folder, f"several COVIDx {split} lists ({names}); keep exactly one {split}*.txt")
    if not matches:
        if required:
            raise DataError(folder, f"no COVIDx {split} list ({split}*.txt) in this folder")
        return None
    return matches[0]


def canonical_class(value: str, path: Path, row: int) -> str:
    """Map a class spelling to :data:`CLASSES` via :data:`CLASS_ALIASES`, or raise naming the line."""
    key = value.strip().lower()
    if key in CLASS_ALIASES:
        return CLASS_ALIASES[key]
    if key in BINARY_LABELS:
        raise DataError(path, f"class {value!r} is from a binary (positive/negative) COVIDx release; "
                              f"the 3-class lists (normal, pneumonia, COVID-19) are needed", row=row)
    raise DataError(path, f"unknown class {value!r} (expected one of {', '.join(CLASSES)})", row=row)


def read_covidx_list(path: Path) -> pd.DataFrame:
    """Parse one list into :data:`LIST_COLUMNS` plus ``line`` (1-based); blank lines are ignored."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "label file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not part of the first file name
    except (UnicodeDecodeError, OSError) as err:
        raise DataError(path, f"cannot read list ({str(err).splitlines()[0]})") from None
    rows: list[tuple[str, str, str, str, int]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 4:
            raise DataError(path, f"expected at least 4 space-separated columns (patient id, filename, class, "
                                  f"source), got {len(parts)}", row=line_no)
        patient, filename, label, source = parts[:4]
        filename = confined_name(filename, path, line_no)
        rows.append((patient, filename, canonical_class(label, path, line_no), source, line_no))
    if not rows:
        raise DataError(path, "no rows")
    frame = pd.DataFrame(rows, columns=[*LIST_COLUMNS, "line"])
    dup = frame["filename"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = int(frame.loc[frame["filename"] == frame["filename"].iloc[i], "line"].iloc[0])
        raise DataError(path, f"image {frame['filename'].iloc[i]} listed twice (first on row {first})",
                        row=int(frame["line"].iloc[i]))
    return frame


def _table(parts: list[tuple[pd.DataFrame, str]]) -> pd.DataFrame:
    frames = []
    for frame, split in parts:
        out = pd.DataFrame({
            "id": f"{SPLIT_DIRS[split]}/" + frame["filename"].astype(str),
            "group": frame["patient_id"].astype(str),
            "official_split": split,
            "label": frame["label"].astype(str),
            "target": frame["label"].map({c: i for i, c in enumerate(CLASSES)}).astype(int),
            "source": frame["source"].astype(str),
            "label_row": frame["line"].astype(int),
        })
        out["strat"] = out["label"]
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def covidx_label_table(path: Path) -> pd.DataFrame:
    """Label table from the lists alone: ``id``, ``group``, ``official_split``, ``label``, ``target``, ``strat``.

    ``path`` is the train list (the test list is found beside it by the ``test*.txt``
    rule, if present) or the folder holding both. Ids are ``train/<file>`` or
    ``test/<file>``, i.e. the image path relative to the root, hence unique.
    """
    path = Path(path)
    if path.is_dir():
        train_path, test_path = find_list(path, "train"), find_list(path, "test", required=False)
    else:
        if not path.is_file():
            raise DataError(path, "label file not found")
        if path.name.lower().startswith("test"):
            train_path, test_path = find_list(path.parent, "train", required=False), path
        else:
            train_path, test_path = path, find_list(path.parent, "test", required=False)
    parts = [(read_covidx_list(p), split) for p, split in ((train_path, "train"), (test_path, "test")) if p is not None]
    return _table(parts)


class CovidxReader(ImageFileReader):
    name = "covidx"
    task_columns = ("label", "target", "official_split")

    def records(self, root: Path) -> pd.DataFrame:
        root = self.check_root(root)
        lists = {split: find_list(root, split) for split in ("train", "test")}
        table = _table([(read_covidx_list(lists[s]), s) for s in ("train", "test")])
        for rel, split, row in zip(table["id"], table["official_split"], table["label_row"]):
            if not (root / rel).is_file():
                raise DataError(lists[split], f"image {rel} listed but missing", row=int(row))
        table["path"] = table["id"]
        table.attrs["skipped"] = {}
        return table

