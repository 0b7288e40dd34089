"""RSNA Pneumonia Detection Challenge (Kaggle stage 2) from its raw layout.

``stage_2_train_labels.csv`` has one row per box (or one row with empty box for a
negative patient); images are ``stage_2_train_images/<patientId>.dcm``. A patient is
positive when any row has Target 1; boxes are kept as JSON ``[[x1, y1, x2, y2], ...]``
in the DICOM's pixel coordinates.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.dicom_io import read_dicom_uint8
from benchmark.errors import DataError
from benchmark.imaging import Letterbox
from benchmark.readers.base import Reader, csv_row, read_table

LABEL_FILE = "stage_2_train_labels.csv"
IMAGE_DIR = "stage_2_train_images"
REQUIRED = ("patientId", "x", "y", "width", "height", "Target")


def rsna_label_table(path: Path) -> pd.DataFrame:
    """Per-patient targets from a stage 2 label CSV: ``id``, ``group``, ``target``, ``boxes``."""
    labels = read_table(Path(path), REQUIRED)
    target = pd.to_numeric(labels["Target"], errors="coerce")
    bad = ~target.isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(path, f"Target must be 0 or 1, got {labels['Target'].iloc[i]!r}", row=csv_row(i))
    coords = labels[["x", "y", "width", "height"]].apply(pd.to_numeric, errors="coerce")
    positive = target.to_numpy() == 1
    bad_box = positive & (coords.isna().any(axis=1).to_numpy() | (coords[["width", "height"]] <= 0).any(axis=1).to_numpy())
    if bad_box.any():
        i = int(np.flatnonzero(bad_box)[0])
        raise DataError(path, "positive row needs a box with numeric x, y and positive width, height", row=csv_row(i))
    if (coords[["x", "y"]] < 0).any(axis=1).to_numpy()[positive].any():
        i = int(np.flatnonzero(positive & (coords[["x", "y"]] < 0).any(axis=1).to_numpy())[0])
        raise DataError(path, "box starts outside the image (negative x or y)", row=csv_row(i))
    boxes: dict[str, list[list[float]]] = {}
    first_row: dict[str, int] = {}
    for i, (pid, pos, x, y, w, h) in enumerate(zip(labels["patientId"].astype(str), positive, coords["x"],
                                                   coords["y"], coords["width"], coords["height"])):
        first_row.setdefault(pid, i)
        boxes.setdefault(pid, [])
        if pos:
            boxes[pid].append([float(x), float(y), float(x + w), float(y + h)])
    ids = sorted(boxes)
    return pd.DataFrame({
        "id": ids,
        "group": ids,
        "target": [int(bool(boxes[p])) for p in ids],
        "boxes": [json.dumps(boxes[p]) for p in ids],
        "label_row": [csv_row(first_row[p]) for p in ids],
        "official_split": "train",
    }).assign(strat=lambda t: t["target"].astype(str))


class RsnaPneumoniaReader(Reader):
    name = "rsna"
    task_columns = ("target", "boxes")
    has_masks = True  # segmentation targets: the boxes rasterised (MGCA protocol)

    def records(self, root: Path) -> pd.DataFrame:
        root = self.check_root(root)
        label_path = root / LABEL_FILE
        table = rsna_label_table(label_path)
        paths = [f"{IMAGE_DIR}/{pid}.dcm" for pid in table["id"]]
        for rel, row in zip(paths, table["label_row"]):
            if not (root / rel).is_file():
                raise DataError(label_path, f"image {rel} listed but missing", row=int(row))
        table["path"] = paths
        table.attrs["skipped"] = {}
        return table

    def load_image(self, root: Path, rel_path: str) -> np.ndarray:
        return read_dicom_uint8(Path(root) / rel_path)

    def load_mask(self, root: Path, row: pd.Series, height: int, width: int) -> np.ndarray:
        mask = np.zeros((height, width), dtype=bool)
        for x1, y1, x2, y2 in json.loads(row["boxes"]):
            mask[max(0, int(round(y1))):int(round(y2)), max(0, int(round(x1))):int(round(x2))] = True
        return mask

    def place_targets(self, row: pd.Series, height: int, width: int, lb: Letterbox, root: Path) -> dict:
        boxes = json.loads(row["boxes"])
        for x1, y1, x2, y2 in boxes:
            if x2 > width + 1 or y2 > height + 1:
                raise DataError(Path(root) / LABEL_FILE, f"box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] outside the "
                                f"{width}x{height} image {row['path']}", row=int(row["label_row"]))
        placed = [[round(v, 2) for v in lb.box(*b)] for b in boxes]
        return {"boxes": json.dumps(placed), "boxes_original": row["boxes"]}
