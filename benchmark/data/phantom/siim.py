"""SIIM-ACR Pneumothorax-shaped phantom with real ImageIds and real masks.

Layout written (the Kaggle download's)::

    train-rle.csv                 "ImageId, EncodedPixels", values after ", " (" -1" = none)
    dicom-images-train/<StudyInstanceUID>/<SeriesInstanceUID>/<ImageId>.dcm

ImageIds and masks come from torchxrayvision's copy of the real label file (1024 px
films). Each real RLE row is decoded at 1024, shrunk to the phantom's size and
re-encoded on its own, so images with several rows keep several rows and the
reader's union gives exactly the mask the film was rendered with: the pneumothorax
is drawn where, and only where, the mask is (real masks follow the real patient's
lungs, so a few spill over the phantom's lung edge; they are still drawn and labelled
there). Negative films get distractor findings so that "abnormal" is not a shortcut
for "pneumothorax".
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
from PIL import Image
from pydicom.uid import generate_uid

from benchmark.data.dicom_io import write_dicom
from benchmark.data.phantom.anatomy import Finding, render_frontal
from benchmark.data.phantom.parallel import parallel_map
from benchmark.data.phantom.rsna import DISTRACTORS
from benchmark.data.phantom.sources import txv_data_file
from benchmark.data.readers.siim import IMAGE_DIR, LABEL_FILE
from benchmark.data.rle import NEGATIVE, is_negative, rle_decode, rle_encode

SIIM_ORIGINAL_SIZE = 1024
# Share of films with any finding in NIH ChestX-ray14 (the SIIM images' source): 1 - 60,361 / 112,120.
DISTRACTOR_SHARE = 0.46
POSITIVE_DISTRACTOR_SHARE = 0.25
# Real SIIM UIDs share one stem: ...3.1.4.<...>.N image, ...3.1.2.<...>.N-1 study, ...3.1.3.<...>.N-2 series.
_SIIM_UID = re.compile(r"^(1\.2\.276\.0\.7230010\.3\.1\.)4(\..+\.)(\d+)$")


def real_siim_labels() -> pd.DataFrame:
    """The real label table shipped by torchxrayvision (12,954 rows, 12,047 images), values stripped."""
    labels = pd.read_csv(txv_data_file("siim-pneumothorax-train-rle.csv.gz"), dtype=str, keep_default_na=False)
    labels.columns = [str(c).strip() for c in labels.columns]
    return labels.apply(lambda col: col.str.strip())


def study_series_uids(image_id: str) -> tuple[str, str]:
    """Deterministic study and series UIDs for one ImageId, shaped like the real set's folders."""
    match = _SIIM_UID.match(image_id)
    if match and int(match.group(3)) >= 2:
        head, mid, last = match.group(1), match.group(2), int(match.group(3))
        return f"{head}2{mid}{last - 1}", f"{head}3{mid}{last - 2}"
    return generate_uid(entropy_srcs=[image_id, "study"]), generate_uid(entropy_srcs=[image_id, "series"])


def patient_uuid(image_id: str) -> str:
    """A stable anonymised PatientID (the real headers hold UUIDs); one patient per phantom image."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"siim-phantom/{image_id}"))


def downsample_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Shrink a boolean mask to size x size: a pixel is set when at least half of it is covered.

    A region too small to cover half a pixel anywhere keeps its best-covered pixel(s),
    so a positive image never loses its mask.
    """
    h, w = mask.shape
    if h % size == 0 and w % size == 0:
        cover = mask.reshape(size, h // size, size, w // size).mean(axis=(1, 3))
    else:
        cover = np.asarray(Image.fromarray(mask.astype(np.float32)).resize((size, size), Image.BOX))
    small = cover >= 0.5
    if not small.any() and mask.any():
        small = cover >= cover.max() - 1e-6
    return small


def _write_image(task: tuple) -> list[str]:
    """Render and write one film; returns its re-encoded RLE rows (same order as the real rows)."""
    image_dir, seed, k, image_id, real_rles, image_size = task
    rng = np.random.default_rng([seed, k])
    rles, union = [], np.zeros((image_size, image_size), dtype=bool)
    for value in real_rles:
        if is_negative(value):
            rles.append(NEGATIVE)
            continue
        small = downsample_mask(rle_decode(value, SIIM_ORIGINAL_SIZE, SIIM_ORIGINAL_SIZE), image_size)
        rles.append(rle_encode(small))
        union |= small
    findings = []
    if rng.uniform() < (POSITIVE_DISTRACTOR_SHARE if union.any() else DISTRACTOR_SHARE):
        findings.append(Finding(kind=str(rng.choice(DISTRACTORS)), side=str(rng.choice(["left", "right"])),
                                severity=float(rng.uniform(0.4, 1.0))))
    pixels = render_frontal(rng, image_size, findings, pneumothorax_mask=union if union.any() else None)
    study, series = study_series_uids(image_id)
    path = image_dir / study / series / f"{image_id}.dcm"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dicom(path, pixels, patient_id=patient_uuid(image_id), view=str(rng.choice(["PA", "AP"])), modality="CR")
    # the real files' UIDs are the ImageId and the two folder names; make the header agree
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = image_id
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.save_as(path, enforce_file_format=True)
    return rles


def write_siim(out: Path, *, seed: int, image_size: int, workers: int = 1, images: int = 300) -> pd.DataFrame:
    """Write a seeded subset of ``images`` real images; returns the label rows written (values stripped)."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    labels = real_siim_labels()
    ids = labels["ImageId"].drop_duplicates().to_numpy()
    chosen = set(rng.choice(ids, size=min(images, len(ids)), replace=False))
    subset = labels[labels["ImageId"].isin(chosen)].reset_index(drop=True)
    image_dir = out / IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    groups = list(subset.groupby("ImageId", sort=True))
    tasks = [(image_dir, seed, k, str(image_id), rows["EncodedPixels"].tolist(), image_size)
             for k, (image_id, rows) in enumerate(groups)]
    encoded = parallel_map(_write_image, tasks, workers, "phantom siim")
    new_rle = pd.Series(index=subset.index, dtype=object)
    for (_, rows), rles in zip(groups, encoded):
        new_rle[rows.index] = rles
    written = pd.DataFrame({"ImageId": subset["ImageId"], "EncodedPixels": new_rle.astype(str)})
    # original format: a space after each comma, in the header and in every value
    lines = ["ImageId, EncodedPixels"] + [f"{i}, {v}" for i, v in zip(written["ImageId"], written["EncodedPixels"])]
    (out / LABEL_FILE).write_text("\n".join(lines) + "\n")
    return written
