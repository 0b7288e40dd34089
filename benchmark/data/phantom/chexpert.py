"""CheXpert-v1.0-small-shaped phantom: real label rows, images rendered from them.

Layout written (as in the real release)::

    train.csv    Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,...,Support Devices
    valid.csv    same columns
    train/patientXXXXX/studyN/viewM_frontal.jpg  (and _lateral.jpg)
    valid/patient64541/studyN/viewM_frontal.jpg  ...

``train.csv`` is a seeded subset of the real training rows shipped by torchxrayvision
(``chexpert_train.csv.gz``): whole patients in a seeded order, so that patients keep
their several studies and views (frontal and lateral, about 14 % lateral as in the
real set); the last patient may be cut to hit the requested count exactly.

The real validation labels are not shipped, so ``valid.csv`` re-uses OTHER real
training rows (patients not in ``train.csv``) under fresh patient folders numbered
from ``patient64541`` (the real valid set's first patient; the real one ends at 64740).
Like the real valid set (radiologist consensus) its labels are all 0.0/1.0: blank
becomes 0.0, uncertain -1.0 becomes the reader's policy for the five competition
labels and 1.0 for the other observations.

Labels are made visible with :data:`LABEL_KINDS`; a positive (1.0) is drawn at
moderate-to-high severity, an uncertain (-1.0) one with probability 0.5 at low
severity. Enlarged Cardiomediastinum, Pleural Other, Fracture and No Finding have no
renderer and are not drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.data.phantom.anatomy import Finding, render_frontal, render_lateral
from benchmark.data.phantom.parallel import parallel_map
from benchmark.data.phantom.sources import txv_data_file
from benchmark.data.readers.chexpert import CHEXPERT_COLUMNS, OBSERVATIONS, UNCERTAIN_AS

RELEASE = "CheXpert-v1.0-small"
FIRST_VALID_PATIENT = 64541
# label -> finding kind the renderer draws ("device" is drawn as a pacemaker or a line, at random)
LABEL_KINDS: dict[str, str] = {
    "Atelectasis": "atelectasis",
    "Cardiomegaly": "cardiomegaly",
    "Consolidation": "opacity",
    "Pneumonia": "opacity",
    "Lung Opacity": "opacity",
    "Infiltration": "opacity",
    "Edema": "edema",
    "Pleural Effusion": "effusion",
    "Effusion": "effusion",
    "Pneumothorax": "pneumothorax",
    "Support Devices": "device",
    "Lung Lesion": "nodule",
    "Nodule": "nodule",
    "Mass": "mass",
    "Emphysema": "hyperinflation",
}
# zone a finding of this kind usually occupies
_ZONE = {"atelectasis": "lower", "effusion": "lower", "pneumothorax": "upper"}


@lru_cache(maxsize=1)
def _real_labels() -> pd.DataFrame:
    return pd.read_csv(txv_data_file("chexpert_train.csv.gz"))


def real_chexpert_labels() -> pd.DataFrame:
    """The real CheXpert training labels shipped by torchxrayvision (223,414 rows, 64,540 patients).

    Parsed once per process (a copy is returned), since every phantom write needs it.
    """
    return _real_labels().copy()


@lru_cache(maxsize=1)
def _rows_by_patient() -> dict[str, np.ndarray]:
    """Patient folder -> positions of its rows in :func:`real_chexpert_labels`, in file order."""
    patient = _real_labels()["Path"].str.split("/").str[2]
    return {str(p): np.asarray(ix) for p, ix in patient.groupby(patient, sort=True).indices.items()}


def label_findings(values: Mapping[str, float], rng: np.random.Generator) -> list[Finding]:
    """Findings that make ``values`` (label -> 1, 0, -1 or NaN) visible; one finding per kind.

    1 is drawn at severity 0.55-1.0; -1 with probability 0.5 at 0.2-0.35; labels
    outside :data:`LABEL_KINDS` are not drawn.
    """
    severity: dict[str, float] = {}
    for label, value in values.items():
        kind = LABEL_KINDS.get(label)
        if kind is None or value is None or np.isnan(value):
            continue
        if value == 1:
            sev = float(rng.uniform(0.55, 1.0))
        elif value == -1 and rng.uniform() < 0.5:
            sev = float(rng.uniform(0.2, 0.35))
        else:
            continue
        severity[kind] = max(severity.get(kind, 0.0), sev)
    findings = []
    for kind, sev in severity.items():
        if kind == "device" and rng.uniform() < 0.5:
            kind = "catheter"
        if kind in ("opacity", "atelectasis", "effusion"):
            side = str(rng.choice(["right", "left", "bilateral"], p=[0.35, 0.35, 0.3]))
        elif kind in ("pneumothorax", "nodule", "mass", "device", "catheter"):
            side = str(rng.choice(["right", "left"]))
        else:
            side = "any"
        findings.append(Finding(kind=kind, side=side, zone=_ZONE.get(kind, "any"), severity=sev))
    return findings


def _write_image(task: tuple) -> None:
    path, seed, k, lateral, values, image_size = task
    img_rng = np.random.default_rng([seed, k])
    findings = label_findings(dict(values), img_rng)
    pixels = render_lateral(img_rng, image_size, findings) if lateral else render_frontal(img_rng, image_size, findings)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=95)


def _take_patients(order: list[str], rows_of: dict[str, np.ndarray], start: int, count: int) -> tuple[np.ndarray, int]:
    """Rows of patients ``order[start:]`` until ``count`` rows; returns them and the next start."""
    taken: list[np.ndarray] = []
    n, i = 0, start
    while n < count and i < len(order):
        rows = rows_of[order[i]][: count - n]
        taken.append(rows)
        n += len(rows)
        i += 1
    return (np.sort(np.concatenate(taken)) if taken else np.array([], dtype=int)), i


def _valid_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """Consensus-style 0.0/1.0 labels, as in the real valid.csv."""
    out = frame.copy()
    for column in OBSERVATIONS:
        out[column] = out[column].replace(-1.0, float(UNCERTAIN_AS.get(column, 1))).fillna(0.0).astype(float)
    return out


def write_chexpert(out: Path, *, seed: int, image_size: int, workers: int = 1, images: int = 300,
                   valid_images: int | None = None) -> pd.DataFrame:
    """Write ``images`` training rows and a valid set (default 8 %, at least 20); returns both CSVs' rows."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    labels = real_chexpert_labels()
    rows_of = _rows_by_patient()
    order = [str(p) for p in rng.permutation(np.asarray(sorted(rows_of), dtype=object))]
    n_valid = max(20, int(round(0.08 * images))) if valid_images is None else int(valid_images)
    train_rows, nxt = _take_patients(order, rows_of, 0, images)
    valid_rows, _ = _take_patients(order, rows_of, nxt, n_valid)

    train = labels.iloc[train_rows].reset_index(drop=True)
    valid = _valid_labels(labels.iloc[valid_rows].reset_index(drop=True))
    source_patient = valid["Path"].str.split("/").str[2]
    new_patient = {p: f"patient{FIRST_VALID_PATIENT + j}" for j, p in enumerate(dict.fromkeys(source_patient))}
    tail = valid["Path"].str.split("/").str[3:].str.join("/")
    valid["Path"] = f"{RELEASE}/valid/" + source_patient.map(new_patient) + "/" + tail

    out.mkdir(parents=True, exist_ok=True)
    columns = list(CHEXPERT_COLUMNS)
    train[columns].to_csv(out / "train.csv", index=False)
    valid[columns].to_csv(out / "valid.csv", index=False)
    written = pd.concat([train[columns], valid[columns]], ignore_index=True)
    tasks = []
    for k, row in enumerate(written.itertuples(index=False)):
        rel = row[0].split("/", 1)[1]
        values = tuple((c, float(v)) for c, v in zip(columns[5:], row[5:]))
        tasks.append((out / rel, seed, k, row[3] == "Lateral", values, image_size))
    parallel_map(_write_image, tasks, workers, "phantom chexpert")
    return written
