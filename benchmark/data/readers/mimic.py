"""MIMIC-CXR-JPG 2.0.0 (+ MIMIC-CXR report files) for image-text pre-training.

Text follows the official M-FLAG preprocessing: impression followed by findings.
Only frontal views (PA, AP) are kept; studies whose report has neither section are
skipped and counted (``attrs["skipped"]``), never dropped silently. An empty or
non-integer id, a dicom_id twice, an image missing from the split file, a split other
than train/validate/test, a missing or non-UTF-8 report are errors naming file (and row).

A phantom copy also carries ``phantom-finding-masks/<dicom_id>.png`` (where the renderer drew
focal findings; the real dataset has nothing like it): when that folder is there, every kept image
needs its mask and the store writes ``masks.npy``, which only the positive control reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.core.errors import DataError
from benchmark.data.readers.base import ImageFileReader, cell, choice_column, csv_row, read_table
from benchmark.data.readers.mimic_sections import mgca_report_text

METADATA_FILE = "mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT_FILE = "mimic-cxr-2.0.0-split.csv.gz"
#: the CheXpert labeller's 14 labels per study (optional: only a supervised method reads them)
CHEXPERT_FILE = "mimic-cxr-2.0.0-chexpert.csv.gz"
CHEXPERT_LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
                   "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
                   "Pneumothorax", "Support Devices")
#: the phantom's finding masks, one PNG per frontal image (not part of the real dataset)
FINDING_MASKS = "phantom-finding-masks"
FRONTAL_VIEWS = ("PA", "AP")
OFFICIAL_SPLITS = ("train", "validate", "test")
# A section header: an upper-case title at the start of a line, followed by a colon.
_HEADER = re.compile(r"^\s*([A-Z][A-Z /&()-]*[A-Z)])\s*:", re.MULTILINE)


def report_sections(text: str) -> dict[str, str]:
    """Split a free-text report into its upper-case sections (whitespace normalised)."""
    matches = list(_HEADER.finditer(text))
    sections: dict[str, str] = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = " ".join(text[m.end():end].split())
        name = m.group(1).strip()
        sections[name] = (sections.get(name, "") + " " + body).strip()
    return sections


def report_text(text: str) -> str:
    """Pre-training text: IMPRESSION then FINDINGS, as the official M-FLAG code builds it."""
    sections = report_sections(text)
    return " ".join(s for s in (sections.get("IMPRESSION", ""), sections.get("FINDINGS", "")) if s)


def _id_column(values: pd.Series, column: str, path: Path) -> pd.Series:
    """A text id column, stripped; an empty cell is an error naming its row."""
    out = values.fillna("").astype(str).str.strip()
    empty = out.eq("").to_numpy()
    if empty.any():
        raise DataError(path, f"empty {column}", row=csv_row(int(np.flatnonzero(empty)[0])))
    return out


def _integer_column(values: pd.Series, column: str, path: Path) -> pd.Series:
    """A column of non-negative integers (``subject_id``, ``study_id``); anything else names its row."""
    numeric = pd.to_numeric(values, errors="coerce")
    with np.errstate(invalid="ignore"):
        bad = (numeric.isna() | (numeric < 0) | (numeric % 1 != 0)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"{column} must be a non-negative integer, got {cell(values.iloc[i])}", row=csv_row(i))
    return numeric.astype(np.int64)


def _official_splits(meta: pd.DataFrame, meta_path: Path, split_path: Path) -> pd.Series:
    """Official split of every metadata row, from the split file.

    A dicom_id twice in the split file, a value other than train/validate/test, or a
    metadata image the split file does not list is an error naming file and row: such an
    image would otherwise fall out of pre-training (which reads "train") unnoticed.
    """
    split = read_table(split_path, ("dicom_id", "split"), dtype={"dicom_id": str, "split": str})
    ids = _id_column(split["dicom_id"], "dicom_id", split_path)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = csv_row(int(np.flatnonzero((ids == ids.iloc[i]).to_numpy())[0]))
        raise DataError(split_path, f"dicom_id {ids.iloc[i]!r} listed twice (first on row {first})", row=csv_row(i))
    values = choice_column(split["split"], OFFICIAL_SPLITS, split_path, f"split must be one of {', '.join(OFFICIAL_SPLITS)}")
    out = meta["dicom_id"].map(dict(zip(ids, values)))
    missing = out.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(meta_path, f"dicom_id {meta['dicom_id'].iloc[i]!r} has no row in {SPLIT_FILE}", row=csv_row(i))
    return out


def study_labels(path: Path, study_ids: pd.Series) -> pd.DataFrame:
    """The 14 labels of each study in ``study_ids`` as 0/1 floats (1 = positive; negative,
    uncertain (-1) and unmentioned (empty) count as 0, the "U-Zeros" policy). A study the
    file does not list, or listed twice, or a value other than 1, 0, -1 or empty, is an error
    naming file and row."""
    table = read_table(path, ("study_id", *CHEXPERT_LABELS))
    ids = _integer_column(table["study_id"], "study_id", path)
    dup = ids.duplicated().to_numpy()
    if dup.any():
        raise DataError(path, f"study_id {ids.iloc[int(np.flatnonzero(dup)[0])]} listed twice",
                        row=csv_row(int(np.flatnonzero(dup)[0])))
    values = table[list(CHEXPERT_LABELS)].apply(pd.to_numeric, errors="coerce")
    bad = ~(values.isna() | values.isin([1, 0, -1])) | (values.isna() & table[list(CHEXPERT_LABELS)].notna())
    if bad.to_numpy().any():
        i, j = (int(v[0]) for v in np.nonzero(bad.to_numpy()))
        raise DataError(path, f"{CHEXPERT_LABELS[j]} must be 1, 0, -1 or empty, got {cell(table[CHEXPERT_LABELS[j]].iloc[i])}",
                        row=csv_row(i))
    positive = (values == 1).astype(float).set_axis(ids.to_numpy())
    missing = ~study_ids.isin(positive.index)
    if missing.any():
        raise DataError(path, f"study {int(study_ids[missing].iloc[0])} has no row (every pre-training study needs its labels)")
    return positive.loc[study_ids.to_numpy()].set_axis(study_ids.index)


def finding_mask(image_id: str) -> str:
    """Where the phantom keeps one image's finding mask, relative to the dataset root."""
    return f"{FINDING_MASKS}/{image_id}.png"


def study_dir(subject_id: int, study_id: int) -> str:
    sid = str(int(subject_id))
    return f"files/p{sid[:2]}/p{sid}/s{int(study_id)}"


class MimicCxrJpgReader(ImageFileReader):
    name = "mimic"
    task_columns = ("text", "official_split")
    #: how report sections are found: ours (:func:`report_sections`) or MGCA's splitter (mimic_sections)
    OPTIONS = {"sections": ("ours", "mgca")}

    def records(self, root: Path) -> pd.DataFrame:
        root = self.check_root(root)
        meta_path = root / METADATA_FILE
        meta = read_table(meta_path, ("dicom_id", "subject_id", "study_id", "ViewPosition"), dtype={"dicom_id": str})
        meta["dicom_id"] = _id_column(meta["dicom_id"], "dicom_id", meta_path)
        if meta["dicom_id"].duplicated().any():
            dup = int(np.flatnonzero(meta["dicom_id"].duplicated().to_numpy())[0])
            raise DataError(meta_path, f"duplicate dicom_id {meta['dicom_id'].iloc[dup]!r}", row=csv_row(dup))
        for column in ("subject_id", "study_id"):
            meta[column] = _integer_column(meta[column], column, meta_path)
        split_path = root / SPLIT_FILE
        if not split_path.exists():
            # without it every image would count as "train" and test studies would reach pre-training
            raise DataError(split_path, "official split file missing; it says which studies are test studies")
        meta["split"] = _official_splits(meta, meta_path, split_path)
        skipped: dict[str, int] = {}
        frontal = meta["ViewPosition"].astype(str).str.upper().isin(FRONTAL_VIEWS)
        skipped["non-frontal view"] = int((~frontal).sum())
        meta = meta[frontal]
        rows = []
        texts: dict[str, str] = {}
        to_text = mgca_report_text if self.options["sections"] == "mgca" else report_text
        for idx, r in zip(meta.index, meta.itertuples(index=False)):
            sdir = study_dir(r.subject_id, r.study_id)
            rel = f"{sdir}/{r.dicom_id}.jpg"
            if not (root / rel).is_file():
                raise DataError(meta_path, f"image {rel} listed but missing", row=csv_row(idx))
            if sdir not in texts:
                report_path = root / f"{sdir}.txt"
                try:
                    raw = report_path.read_bytes()
                except FileNotFoundError:
                    raise DataError(report_path, "report file missing") from None
                except OSError as err:  # a folder where the report belongs, no permission, ...
                    raise DataError(report_path, f"cannot read report ({err.strerror})") from None
                try:
                    texts[sdir] = to_text(raw.decode("utf-8-sig"))  # a BOM would hide the first section header
                except UnicodeDecodeError as err:
                    raise DataError(report_path, f"report is not UTF-8 ({err.reason} at byte {err.start})") from None
            text = texts[sdir]
            if not text:
                skipped["report without findings/impression"] = skipped.get("report without findings/impression", 0) + 1
                continue
            rows.append({"id": str(r.dicom_id), "group": str(int(r.subject_id)), "study_id": int(r.study_id),
                         "path": rel, "text": text, "official_split": str(r.split)})
        frame = pd.DataFrame(rows, columns=["id", "group", "study_id", "path", "text", "official_split"])
        if frame.empty:
            raise DataError(meta_path, "no usable frontal image with a report")
        if (root / CHEXPERT_FILE).exists():
            frame = frame.join(study_labels(root / CHEXPERT_FILE, frame["study_id"]))
        if self.masks_at(root):
            missing = [i for i in frame["id"] if not (root / finding_mask(i)).is_file()]
            if missing:
                raise DataError(root / finding_mask(missing[0]),
                                f"finding mask missing ({len(missing)} of {len(frame)} frontal images have none)")
        frame.attrs["skipped"] = {k: v for k, v in skipped.items() if v}
        return frame

    def masks_at(self, root: Path) -> bool:
        """Only the phantom writes finding masks; real MIMIC-CXR has none."""
        return (Path(root) / FINDING_MASKS).is_dir()

    def load_mask(self, root: Path, row: pd.Series, height: int, width: int) -> np.ndarray:
        """The phantom's finding mask of one image (0 / 255 PNG of the image's size)."""
        rel = finding_mask(row["id"])
        mask = self.load_image(root, rel)
        if mask.shape != (height, width):
            raise DataError(Path(root) / rel, f"finding mask is {mask.shape[1]}x{mask.shape[0]} px, its image {width}x{height}")
        return mask > 127

