"""Object-CXR (JF Healthcare foreign-object challenge) from its raw layout.

``train.csv`` and ``dev.csv`` have the header ``image_name,annotation``; images are
``train/<image_name>`` and ``dev/<image_name>``. The annotation is empty for a film
without foreign objects, otherwise objects separated by ``;``, each
``<type> x1 y1 x2 y2 ...`` in image pixels:

* ``0`` rectangle -- two corner points,
* ``1`` ellipse -- the two corners of its bounding box,
* ``2`` polygon -- its vertices (any number of points, at least two).

Each object becomes the tight box of its points, kept as JSON ``[[x1, y1, x2, y2], ...]``
(reader option ``polygon_boxes: polylabel``: a polygon becomes MGCA's box instead, see
:func:`polylabel_box`);
``target`` is 1 when there is any object. The dev set is the challenge's held-out set,
so ``official_split`` is ``"test"`` for it. The release has no patient ids, so
``group`` is the image name (patient-grouped splits are image-level here).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import DataError
from benchmark.data.imaging import Letterbox
from benchmark.data.readers.base import ImageFileReader, check_boxes_in_image, confined_name, csv_row, read_table

REQUIRED = ("image_name", "annotation")
# label file -> (image folder, official split)
LISTS = {"train.csv": ("train", "train"), "dev.csv": ("dev", "test")}
SHAPES = {0: "rectangle", 1: "ellipse", 2: "polygon"}
OBJECT_SEP = ";"


def polylabel_box(xs: list[float], ys: list[float]) -> list[float]:
    """MGCA's box of a polygon (``mgca/preprocess/object_cxr.py`` polylabel_box, after xuyuan/xsd):
    the outline closed into a ring and buffered by 100 px, its pole of inaccessibility (polylabel,
    tolerance 10) as the centre, and on each axis the larger distance from it to the outline's
    bounds as the half-size. The box is centred on that point, so it can be larger than the
    polygon's own box and reach past the image (the store clips it to the image)."""
    from shapely.geometry import LineString
    from shapely.ops import polylabel

    ring = LineString(list(zip(xs, ys)) + [(xs[0], ys[0])])
    centre = polylabel(ring.buffer(100), tolerance=10)
    minx, miny, maxx, maxy = ring.bounds
    half_x = max(abs(minx - centre.x), abs(maxx - centre.x))
    half_y = max(abs(miny - centre.y), abs(maxy - centre.y))
    return [centre.x - half_x, centre.y - half_y, centre.x + half_x, centre.y + half_y]


def parse_annotation(text: str, path: Path, row: int, polygon_boxes: str = "tight") -> list[list[float]]:
    """Boxes ``[x1, y1, x2, y2]`` of the objects in one annotation string (may be empty): tight
    boxes of their points, or MGCA's polylabel box for polygons (``polygon_boxes``)."""
    boxes: list[list[float]] = []
    for part in str(text).split(OBJECT_SEP):
        tokens = part.split()
        if not tokens:
            continue  # empty annotation or a trailing ';'
        kind = tokens[0]
        if kind not in ("0", "1", "2"):
            raise DataError(path, f"bad object type {kind!r} in {part.strip()!r} (0 rectangle, 1 ellipse, 2 polygon)",
                            row=row)
        try:
            values = [float(v) for v in tokens[1:]]
        except ValueError:
            raise DataError(path, f"non-numeric coordinate in {part.strip()!r}", row=row) from None
        if not all(math.isfinite(v) for v in values):
            raise DataError(path, f"non-finite coordinate in {part.strip()!r}", row=row)
        if len(values) % 2:
            raise DataError(path, f"odd number of coordinates ({len(values)}) in {part.strip()!r}", row=row)
        points = len(values) // 2
        shape = SHAPES[int(kind)]
        if (shape != "polygon" and points != 2) or points < 2:
            need = "exactly 2 points" if shape != "polygon" else "at least 2 points"
            raise DataError(path, f"{shape} needs {need}, got {points} in {part.strip()!r}", row=row)
        xs, ys = values[0::2], values[1::2]
        if shape == "polygon" and polygon_boxes == "polylabel":
            boxes.append(polylabel_box(xs, ys))
        else:
            boxes.append([min(xs), min(ys), max(xs), max(ys)])
    return boxes


def _read_list(path: Path, folder: str, split: str, polygon_boxes: str = "tight") -> pd.DataFrame:
    labels = read_table(path, REQUIRED, dtype=str, keep_default_na=False)
    names = labels["image_name"].astype(str).str.strip()
    empty = names == ""
    if empty.any():
        raise DataError(path, "empty image_name", row=csv_row(int(np.flatnonzero(empty.to_numpy())[0])))
    names = pd.Series([confined_name(n, path, csv_row(i)) for i, n in enumerate(names)], index=names.index)
    dup = names.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        first = csv_row(int(np.flatnonzero((names == names.iloc[i]).to_numpy())[0]))
        raise DataError(path, f"image {names.iloc[i]} listed twice (first on row {first})", row=csv_row(i))
    boxes = [parse_annotation(a, path, csv_row(i), polygon_boxes) for i, a in enumerate(labels["annotation"].astype(str))]
    out = pd.DataFrame({
        "id": f"{folder}/" + names,
        "group": names,
        "official_split": split,
        "target": [int(bool(b)) for b in boxes],
        "n_objects": [len(b) for b in boxes],
        "boxes": [json.dumps(b) for b in boxes],
        "label_file": path.name,
        "label_row": [csv_row(i) for i in range(len(labels))],
    })
    out["strat"] = out["target"].astype(str)
    return out


def object_cxr_label_table(path: Path) -> pd.DataFrame:
    """Label table from the CSVs alone: ``id``, ``group``, ``official_split``, ``target``, ``boxes``, ``strat``.

    ``path`` is ``train.csv`` (``dev.csv`` beside it is read too, if present) or the
    folder holding them. Ids are the image paths relative to the root.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    given_dev = not path.is_dir() and path.name == "dev.csv"
    train_path = folder / "train.csv" if path.is_dir() or given_dev else path
    dev_path = folder / "dev.csv"
    files = []
    if train_path.is_file() or not given_dev:
        files.append((train_path, "train", "train"))  # read_table names a missing train list
    if dev_path.is_file() and dev_path != train_path:
        files.append((dev_path, "dev", "test"))
    if not files:
        raise DataError(path, "label file not found")
    return pd.concat([_read_list(p, d, s) for p, d, s in files], ignore_index=True)


class ObjectCxrReader(ImageFileReader):
    name = "object_cxr"
    task_columns = ("target", "boxes", "official_split")
    OPTIONS = {"polygon_boxes": ("tight", "polylabel")}

    def records(self, root: Path) -> pd.DataFrame:
        root = self.check_root(root)
        table = pd.concat([_read_list(root / name, *LISTS[name], self.options["polygon_boxes"]) for name in LISTS],
                          ignore_index=True)
        for rel, label_file, row in zip(table["id"], table["label_file"], table["label_row"]):
            if not (root / rel).is_file():
                raise DataError(root / label_file, f"image {rel} listed but missing", row=int(row))
        table["path"] = table["id"]
        table.attrs["skipped"] = {}
        return table


    def place_targets(self, row: pd.Series, height: int, width: int, lb: Letterbox, root: Path) -> dict:
        boxes = json.loads(row["boxes"])
        if self.options["polygon_boxes"] == "polylabel":  # MGCA's boxes can reach past the image
            boxes = [[min(max(b[0], 0), width), min(max(b[1], 0), height), min(max(b[2], 0), width),
                      min(max(b[3], 0), height)] for b in boxes]
        check_boxes_in_image(boxes, width, height, Path(root) / row["label_file"], [row["label_row"]] * len(boxes),
                             row["path"])
        placed = [[round(v, 2) for v in lb.box(*b)] for b in boxes]
        return {"boxes": json.dumps(placed), "boxes_original": row["boxes"]}
