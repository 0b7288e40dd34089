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

from benchmark.core.errors import DataError
from benchmark.data.dicom_io import read_dicom_uint8
from benchmark.data.imaging import Letterbox
from benchmark.data.readers.base import Reader, cell, check_boxes_in_image, csv_row, read_table

LABEL_FILE = "stage_2_train_labels.csv"
IMAGE_DIR = "stage_2_train_images"
REQUIRED = ("patientId", "x", "y", "width", "height", "Target")


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def rsna_label_table(path: Path) -> pd.DataFrame:
    """Per-patient targets from a stage 2 label CSV: ``id``, ``group``, ``target``, ``boxes``.

    The format has one row per box, so a patient may have several rows, all Target 1
    with a box each; a negative patient has exactly one row, Target 0 and no box. Anything
    else is an error naming file and row: an empty patientId, a Target other than 0/1, a
    positive row without a finite box of positive size or starting at negative x or y,
    a Target 0 row with a box, a patient with a Target 0 row and any other row, and a
    row that repeats an earlier one (a box listed twice would count twice as ground truth).
    """
    path = Path(path)
    labels = read_table(path, REQUIRED, dtype={"patientId": str})
    pids = labels["patientId"].fillna("").astype(str).str.strip()
    if pids.eq("").any():
        raise DataError(path, "empty patientId", row=csv_row(_first(pids.eq("").to_numpy())))
    target = pd.to_numeric(labels["Target"], errors="coerce")
    bad = ~target.isin([0, 1])
    if bad.any():
        i = _first(bad.to_numpy())
        raise DataError(path, f"Target must be 0 or 1, got {cell(labels['Target'].iloc[i])}", row=csv_row(i))
    coords = labels[["x", "y", "width", "height"]].apply(pd.to_numeric, errors="coerce")
    positive = target.to_numpy() == 1
    finite = np.isfinite(coords.to_numpy(dtype=float)).all(axis=1)
    bad_box = positive & (~finite | (coords[["width", "height"]] <= 0).any(axis=1).to_numpy())
    if bad_box.any():
        raise DataError(path, "positive row needs a box with finite numeric x, y and positive width, height",
                        row=csv_row(_first(bad_box)))
    if (coords[["x", "y"]] < 0).any(axis=1).to_numpy()[positive].any():
        i = _first(positive & (coords[["x", "y"]] < 0).any(axis=1).to_numpy())
        raise DataError(path, "box starts outside the image (negative x or y)", row=csv_row(i))
    box_on_negative = ~positive & labels[["x", "y", "width", "height"]].notna().any(axis=1).to_numpy()
    if box_on_negative.any():
        raise DataError(path, "Target 0 row has a box (a negative patient's row leaves x, y, width, height empty)",
                        row=csv_row(_first(box_on_negative)))
    same = coords.assign(pid=pids, target=target).groupby(["pid", "target", "x", "y", "width", "height"],
                                                             dropna=False, sort=False).ngroup().to_numpy()
    repeated = pd.Series(same).duplicated().to_numpy()
    if repeated.any():
        i = _first(repeated)
        first = _first(same == same[i])
        raise DataError(path, f"patient {pids.iloc[i]}: row repeats row {csv_row(first)}", row=csv_row(i))
    negatives = set(pids[~positive])
    several = (pids.isin(negatives) & pids.duplicated(keep=False)).to_numpy()
    if several.any():
        rows = np.flatnonzero((pids == pids.iloc[_first(several)]).to_numpy())
        raise DataError(path, f"patient {pids.iloc[rows[0]]} has a Target 0 row and another row "
                              f"(rows {', '.join(str(csv_row(r)) for r in rows)}); a negative patient has one row",
                        row=csv_row(rows[-1]))
    boxes: dict[str, list[list[float]]] = {}
    box_rows: dict[str, list[int]] = {}
    first_row: dict[str, int] = {}
    for i, (pid, pos, x, y, w, h) in enumerate(zip(pids, positive, coords["x"],
                                                   coords["y"], coords["width"], coords["height"])):
        first_row.setdefault(pid, i)
        boxes.setdefault(pid, [])
        box_rows.setdefault(pid, [])
        if pos:
            boxes[pid].append([float(x), float(y), float(x + w), float(y + h)])
            box_rows[pid].append(csv_row(i))
    ids = sorted(boxes)
    return pd.DataFrame({
        "id": ids,
        "group": ids,
        "target": [int(bool(boxes[p])) for p in ids],
        "boxes": [json.dumps(boxes[p]) for p in ids],
        "label_row": [csv_row(first_row[p]) for p in ids],
        "box_rows": [json.dumps(box_rows[p]) for p in ids],
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
        check_boxes_in_image(boxes, width, height, Path(root) / LABEL_FILE, json.loads(row["box_rows"]), row["path"])
        placed = [[round(v, 2) for v in lb.box(*b)] for b in boxes]
        return {"boxes": json.dumps(placed), "boxes_original": row["boxes"]}
