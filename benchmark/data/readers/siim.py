"""SIIM-ACR Pneumothorax Segmentation (Kaggle) from its raw layout.

Layout read::

    train-rle.csv                 ImageId, EncodedPixels   (one row per mask region, -1 = none)
    dicom-images-train/<StudyInstanceUID>/<SeriesInstanceUID>/<ImageId>.dcm

DICOMs are found by file stem anywhere under ``dicom-images-train`` (the Kaggle
download nests them two levels deep). An image is positive when any of its rows has
an RLE; all its RLE strings are kept (``rle``, joined with ``|``, with their CSV rows
in ``label_rows``) so that :meth:`SiimPneumothoraxReader.load_mask` rebuilds the union
mask at the DICOM's own size, where the RLE can finally be checked against the image.
The patient (``group``) is the DICOM header's PatientID, read without pixel data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydicom

from benchmark.core.errors import DataError
from benchmark.data.dicom_io import read_dicom_uint8
from benchmark.data.readers.base import Reader, csv_row, read_table, walk_files
from benchmark.data.rle import RleError, is_negative, parse_rle, rle_decode

LABEL_FILE = "train-rle.csv"
IMAGE_DIR = "dicom-images-train"
REQUIRED = ("ImageId", "EncodedPixels")
#: joins the several RLE strings (and their CSV rows) of one image in one cell
JOIN = "|"


def siim_label_table(path: Path) -> pd.DataFrame:
    """Per-image targets from ``train-rle.csv`` alone (no DICOMs needed).

    An image may have several rows (one per mask region; a repeated row changes nothing,
    the mask is their union); ``-1`` together with a mask for the same image is an error
    naming the row.

    Columns: ``id`` (ImageId), ``group`` (= ImageId: the CSV carries no patient, the
    reader replaces it with the DICOM PatientID), ``official_split`` ("train": the
    label file only covers the training images), ``target``, ``strat`` (str(target)),
    ``rle`` and ``label_rows`` (``|``-joined, aligned), ``label_row`` (first CSV row).
    """
    path = Path(path)
    # dtype=str: a file of negatives only would otherwise become integers, and " -1" must stay text
    labels = read_table(path, REQUIRED, dtype=str, keep_default_na=False)
    ids = labels["ImageId"].str.strip()
    values = labels["EncodedPixels"].str.strip()
    rles: dict[str, list[str]] = {}
    rows: dict[str, list[int]] = {}
    for i, (image_id, value) in enumerate(zip(ids, values)):
        if not image_id:
            raise DataError(path, "empty ImageId", row=csv_row(i))
        try:
            parse_rle(value)
        except RleError as err:
            raise DataError(path, f"image {image_id}: {err}", row=csv_row(i)) from None
        earlier = rles.get(image_id, [])
        if earlier and is_negative(value) != is_negative(earlier[0]):
            raise DataError(path, f"image {image_id}: -1 (no pneumothorax) and a mask on different rows "
                                  f"(rows {', '.join(map(str, rows[image_id]))} and {csv_row(i)})", row=csv_row(i))
        rles.setdefault(image_id, []).append(value)
        rows.setdefault(image_id, []).append(csv_row(i))
    order = sorted(rles)
    target = [int(any(not is_negative(v) for v in rles[k])) for k in order]
    return pd.DataFrame({
        "id": order,
        "group": order,
        "official_split": "train",
        "target": target,
        "strat": [str(t) for t in target],
        "rle": [JOIN.join(rles[k]) for k in order],
        "label_rows": [JOIN.join(str(r) for r in rows[k]) for k in order],
        "label_row": [rows[k][0] for k in order],
    })


def index_dicoms(image_dir: Path) -> dict[str, Path]:
    """Every ``*.dcm`` under ``image_dir`` by file stem (the ImageId); a stem twice is an error."""
    if not image_dir.is_dir():
        raise DataError(image_dir, "image folder not found")
    found: dict[str, Path] = {}
    for path in walk_files(image_dir, ".dcm"):
        if path.stem in found:
            raise DataError(path, f"ImageId {path.stem} also at {found[path.stem]}; cannot tell which is labelled")
        found[path.stem] = path
    return found


def dicom_patient_id(path: Path) -> str:
    """PatientID from the header only (no pixel data is read), '' when absent."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
    except Exception as err:  # pydicom raises many types for corrupt files
        raise DataError(path, f"not a readable DICOM ({type(err).__name__}: {err})") from None
    return str(ds.get("PatientID", "") or "").strip()


class SiimPneumothoraxReader(Reader):
    name = "siim"
    task_columns = ("target",)
    has_masks = True

    def records(self, root: Path) -> pd.DataFrame:
        root = self.check_root(root)
        label_path = root / LABEL_FILE
        table = siim_label_table(label_path)
        dicoms = index_dicoms(root / IMAGE_DIR)
        paths, groups = [], []
        for image_id, row in zip(table["id"], table["label_row"]):
            found = dicoms.get(image_id)
            if found is None:
                raise DataError(label_path, f"image {image_id}.dcm listed but missing under {IMAGE_DIR}/",
                                row=int(row))
            paths.append(found.relative_to(root).as_posix())
            # real SIIM headers carry an anonymised PatientID; fall back to the image when blank
            groups.append(dicom_patient_id(found) or image_id)
        table["path"] = paths
        table["group"] = groups
        unlabelled = len(dicoms) - len(table)
        table.attrs["skipped"] = {"DICOM without label row": unlabelled} if unlabelled else {}
        return table

    def load_image(self, root: Path, rel_path: str) -> np.ndarray:
        return read_dicom_uint8(Path(root) / rel_path)

    def load_mask(self, root: Path, row: pd.Series, height: int, width: int) -> np.ndarray:
        """Union of the image's RLE rows at the DICOM's size; a run past the image names its CSV row."""
        values = str(row["rle"]).split(JOIN)
        rows = str(row.get("label_rows", row["label_row"])).split(JOIN)
        if len(rows) != len(values):  # label_rows dropped or edited: fall back to the first row
            rows = [str(row["label_row"])] * len(values)
        mask = np.zeros((height, width), dtype=bool)
        for value, line in zip(values, rows):
            try:
                mask |= rle_decode(value, height, width)
            except RleError as err:
                raise DataError(Path(root) / LABEL_FILE, f"image {row['id']} ({row['path']}): {err}",
                                row=int(line)) from None
        return mask
