"""NIH ChestX-ray14-shaped phantom: real label rows, images rendered from them.

Layout written (as in the NIH box release)::

    Data_Entry_2017_v2020.csv     Image Index,Finding Labels,...,OriginalImagePixelSpacing[x,y]
    train_val_list.txt            one image file name per line
    test_list.txt
    images_001/images/<Image Index>.png

Rows are a seeded subset of the real label file shipped by torchxrayvision
(``Data_Entry_2017_v2020.csv.gz``): whole patients in a seeded order, so follow-up
images stay together; the last patient may be cut to hit the requested count. All
columns are copied unchanged (``OriginalImage[Width,Height]`` describes the original
DICOM, as in the real release, not the rendered PNG).

The official lists are not shipped with torchxrayvision, so both lists here are
SYNTHETIC: a patient goes to ``test_list.txt`` when a seeded SHA-256 of its Patient ID
falls below ``test_share`` (default 0.22 of patients; the real test list holds 25,596
of the 112,120 images, 22.8 %), otherwise to ``train_val_list.txt``.

Labels are drawn with :func:`benchmark.data.phantom.chexpert.label_findings` (Infiltration,
Consolidation and Pneumonia as opacity, Emphysema as hyperinflation, ...); Fibrosis,
Hernia and Pleural_Thickening have no renderer and are not drawn.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.data.phantom.anatomy import render_frontal
from benchmark.data.phantom.chexpert import label_findings
from benchmark.data.phantom.parallel import parallel_map
from benchmark.data.phantom.sources import txv_data_file
from benchmark.data.readers.nih import NIH_LABELS, NO_FINDING, TEST_LIST, TRAIN_LIST

LABEL_FILE = "Data_Entry_2017_v2020.csv"
IMAGE_DIR = "images_001/images"


@lru_cache(maxsize=1)
def _real_labels() -> pd.DataFrame:
    return pd.read_csv(txv_data_file("Data_Entry_2017_v2020.csv.gz"), dtype={"Image Index": str})


def real_nih_labels() -> pd.DataFrame:
    """The real ChestX-ray14 label file shipped by torchxrayvision (112,120 images, 30,805 patients).

    Parsed once per process (a copy is returned), since every phantom write needs it.
    """
    return _real_labels().copy()


@lru_cache(maxsize=1)
def _rows_by_patient() -> dict[str, np.ndarray]:
    """Patient ID -> positions of its rows in :func:`real_nih_labels`, in file order."""
    return {str(p): np.asarray(ix) for p, ix in _real_labels().groupby("Patient ID", sort=True).indices.items()}


def is_test_patient(patient_id: str, seed: int, test_share: float) -> bool:
    """Synthetic official split: a seeded hash of the patient id, uniform in [0, 1), below ``test_share``."""
    digest = hashlib.sha256(f"nih-test/{seed}/{patient_id}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64 < test_share


def _write_image(task: tuple) -> None:
    path, seed, k, finding_labels, image_size = task
    img_rng = np.random.default_rng([seed, k])
    names = [] if finding_labels == NO_FINDING else finding_labels.split("|")
    findings = label_findings({name: 1.0 for name in names if name in NIH_LABELS}, img_rng)
    Image.fromarray(render_frontal(img_rng, image_size, findings)).save(path)


def write_nih(out: Path, *, seed: int, image_size: int, workers: int = 1, images: int = 300,
              test_share: float = 0.22) -> pd.DataFrame:
    """Write ``images`` real label rows with rendered PNGs and synthetic official lists; returns the label rows."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    labels = real_nih_labels()
    columns = list(labels.columns)
    rows_of = _rows_by_patient()
    order = [str(p) for p in rng.permutation(np.asarray(sorted(rows_of, key=int), dtype=object))]
    taken, n = [], 0
    for patient in order:
        if n >= images:
            break
        rows = rows_of[patient][: images - n]
        taken.append(rows)
        n += len(rows)
    subset = labels.iloc[np.sort(np.concatenate(taken))].reset_index(drop=True)

    image_dir = out / IMAGE_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    subset[columns].to_csv(out / LABEL_FILE, index=False)
    test = subset["Patient ID"].astype(str).map(lambda p: is_test_patient(p, seed, test_share))
    for name, chosen in ((TEST_LIST, test), (TRAIN_LIST, ~test)):
        lines = sorted(subset.loc[chosen, "Image Index"].astype(str))
        (out / name).write_text("".join(f"{line}\n" for line in lines))
    tasks = [(image_dir / str(name), seed, k, str(found), image_size)
             for k, (name, found) in enumerate(zip(subset["Image Index"], subset["Finding Labels"]))]
    parallel_map(_write_image, tasks, workers, "phantom nih")
    return subset
