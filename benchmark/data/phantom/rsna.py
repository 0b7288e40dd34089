"""RSNA Pneumonia (Kaggle stage 2)-shaped phantom with real patient IDs and boxes.

Layout written::

    stage_2_train_labels.csv          patientId,x,y,width,height,Target (original format)
    stage_2_train_images/<patientId>.dcm

Boxes come from torchxrayvision's copy of the real label file (1024 px films) and are
rescaled to the phantom's image size; opacity is rendered inside each box. Negative
films get distractor findings (nodules, effusions, devices, big hearts) at the rate of
the real set's "No Lung Opacity / Not Normal" class, so that "abnormal" is not a
shortcut for "pneumonia".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.data.dicom_io import write_dicom
from benchmark.data.phantom.anatomy import Finding, render_frontal
from benchmark.data.phantom.parallel import parallel_map
from benchmark.data.phantom.sources import txv_data_file

RSNA_ORIGINAL_SIZE = 1024
LABEL_COLUMNS = ["patientId", "x", "y", "width", "height", "Target"]
# Share of negative patients that are "No Lung Opacity / Not Normal" in the real set (11,821 / 20,672).
DISTRACTOR_SHARE = 0.57
DISTRACTORS = ("nodule", "effusion", "device", "cardiomegaly", "atelectasis", "catheter", "granuloma")


def real_rsna_labels() -> pd.DataFrame:
    """The real stage 2 label table shipped by torchxrayvision (30,227 rows, 26,684 patients)."""
    return pd.read_csv(txv_data_file("kaggle_stage_2_train_labels.csv.zip"))


def _write_patient(task: tuple) -> None:
    image_dir, seed, k, pid, boxes, image_size = task
    img_rng = np.random.default_rng([seed, k])
    findings = []
    if img_rng.uniform() < (0.25 if boxes else DISTRACTOR_SHARE):
        kind = str(img_rng.choice(DISTRACTORS))
        findings.append(Finding(kind=kind, side=str(img_rng.choice(["left", "right"])),
                                severity=float(img_rng.uniform(0.4, 1.0))))
    pixels = render_frontal(img_rng, image_size, findings, opacity_boxes=boxes)
    write_dicom(image_dir / f"{pid}.dcm", pixels, patient_id=pid, view=str(img_rng.choice(["PA", "AP"])), modality="CR")


def write_rsna(out: Path, *, patients: int, seed: int, image_size: int, workers: int = 1) -> pd.DataFrame:
    """Write a seeded subset of ``patients`` real patients; returns the label table written."""
    rng = np.random.default_rng(seed)
    labels = real_rsna_labels()
    ids = labels["patientId"].drop_duplicates().to_numpy()
    chosen = set(rng.choice(ids, size=min(patients, len(ids)), replace=False))
    subset = labels[labels["patientId"].isin(chosen)].copy()
    scale = image_size / RSNA_ORIGINAL_SIZE
    for col in ("x", "y", "width", "height"):
        subset[col] = (subset[col] * scale).round(1)
    image_dir = out / "stage_2_train_images"
    image_dir.mkdir(parents=True, exist_ok=True)
    subset[LABEL_COLUMNS].to_csv(out / "stage_2_train_labels.csv", index=False)
    tasks = []
    for k, (pid, rows) in enumerate(subset.groupby("patientId", sort=True)):
        boxes = [(r.x, r.y, r.x + r.width, r.y + r.height) for r in rows.itertuples() if r.Target == 1]
        tasks.append((image_dir, seed, k, str(pid), boxes, image_size))
    parallel_map(_write_patient, tasks, workers, "phantom rsna")
    return subset
