"""COVIDx-shaped phantom with SYNTHETIC label lists (no COVIDx list ships offline).

Layout written (as in the COVIDx 9A release)::

    train_COVIDx9A.txt    "<patient id> <filename> <class> <source>" per line, no header
    test_COVIDx9A.txt
    train/<filename>      PNG or JPEG, by the file name's extension
    test/<filename>

What is synthetic, and how it follows the release:

* class shares of the train list follow COVIDx 9A (8,085 normal / 5,555 pneumonia /
  16,490 COVID-19, i.e. about 27 / 18 / 55 %); the official test list is 1:1:2 like
  its 100 / 100 / 200. Counts are scaled to the requested sizes by largest remainder.
  (The paper's COVIDx has 29,986 train images, a little fewer than 9A's 30,130, so
  :func:`synthetic_covidx_lists` defaults to 29,986 + 400 with the 9A shares.)
* normal and pneumonia films come from source ``rsna`` with one image per patient and
  the patient id as file name (as COVIDx builds them from the RSNA challenge);
  COVID-19 films come from several sources with 1-3 images per patient. Patients
  never appear in both lists. Ids and names are made up.
* images: normal -> plain film (a fifth get a non-airspace distractor); pneumonia ->
  focal lobar opacity on one side; COVID-19 -> bilateral, peripheral, lower-zone
  ground-glass haze drawn by :func:`add_ground_glass` on top of the film.
"""

from __future__ import annotations

import bisect
import copy
import random
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmark.data.phantom.anatomy import (
    Finding,
    render_frontal,
    sample_geometry,
    smooth_noise,
)
from benchmark.data.phantom.parallel import parallel_map
from benchmark.data.readers.covidx import CLASSES, LIST_COLUMNS

TRAIN_COUNTS_9A = {"normal": 8_085, "pneumonia": 5_555, "COVID-19": 16_490}
TEST_COUNTS_9A = {"normal": 100, "pneumonia": 100, "COVID-19": 200}
LIST_NAMES = {"train": "train_COVIDx9A.txt", "test": "test_COVIDx9A.txt"}
# COVID-19 sources of COVIDx 9A with made-up weights; names only label the synthetic rows.
COVID_SOURCES = ("bimcv", "ricord", "stonybrook", "cohen", "sirm", "actmed", "fig1", "rsna")
COVID_SOURCE_CUMULATIVE = list(np.cumsum([0.40, 0.15, 0.15, 0.12, 0.08, 0.04, 0.03, 0.03]))
IMAGES_PER_COVID_PATIENT = ((1, 2, 3), list(np.cumsum([0.6, 0.25, 0.15])))
EXTENSIONS = {"bimcv": ".png", "ricord": ".jpg", "stonybrook": ".png", "cohen": ".jpeg", "sirm": ".png",
              "actmed": ".png", "fig1": ".jpg", "rsna": ".png"}
NORMAL_DISTRACTORS = ("nodule", "granuloma", "device", "catheter", "cardiomegaly")


def allocate(n: int, counts: dict[str, int]) -> dict[str, int]:
    """Split ``n`` over the classes in proportion to ``counts`` (largest remainder, exact total)."""
    total = sum(counts.values())
    raw = {c: n * v / total for c, v in counts.items()}
    out = {c: int(np.floor(v)) for c, v in raw.items()}
    for c in sorted(raw, key=lambda c: (-(raw[c] - out[c]), CLASSES.index(c)))[: n - sum(out.values())]:
        out[c] += 1
    return out


def _hex(rnd: random.Random, digits: int) -> str:
    return f"{rnd.getrandbits(4 * digits):0{digits}x}"


def _pick(rnd: random.Random, options: tuple, cumulative: list[float]):
    """A weighted choice from cumulative weights."""
    return options[bisect.bisect_right(cumulative, rnd.random() * cumulative[-1])]


def _class_rows(rnd: random.Random, label: str, n_images: int, start: int) -> list[list[str]]:
    """Rows of one class, patient by patient; ``start`` numbers patients/files uniquely across lists.

    Draws come from a seeded :class:`random.Random`: tens of thousands of tiny draws
    are far cheaper there than on a numpy generator.
    """
    rows: list[list[str]] = []
    k = start
    while len(rows) < n_images:
        k += 1
        if label == "COVID-19":
            source = _pick(rnd, COVID_SOURCES, COVID_SOURCE_CUMULATIVE)
            n = min(_pick(rnd, *IMAGES_PER_COVID_PATIENT), n_images - len(rows))
            patient = f"{source}-{k}"
            names = [f"{source}-{_hex(rnd, 8)}-{k}-{j}{EXTENSIONS[source]}" for j in range(n)]
        else:
            source = "rsna"
            patient = f"{_hex(rnd, 8)}-{_hex(rnd, 4)}-{_hex(rnd, 4)}-{_hex(rnd, 4)}-{k:012d}"
            names = [f"{patient}.png"]
        rows += [[patient, name, label, source] for name in names]
    return rows


def _list(rng: np.random.Generator, n: int, shares: dict[str, int], start: int) -> pd.DataFrame:
    rows: list[list[str]] = []
    rnd = random.Random(int(rng.integers(2**63)))
    for i, (label, count) in enumerate(allocate(n, shares).items()):
        rows += _class_rows(rnd, label, count, start + i * (n + 1))
    frame = pd.DataFrame(rows, columns=LIST_COLUMNS)
    # patient order is shuffled so classes interleave; a patient's images stay together
    patients = frame["patient_id"].drop_duplicates().to_numpy()
    rank = {p: r for r, p in enumerate(rng.permutation(patients))}
    order = np.argsort(frame["patient_id"].map(rank).to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def synthetic_covidx_lists(n_train: int = 29_986, n_test: int = 400,
                           seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic train and test lists (:data:`LIST_COLUMNS`) with COVIDx 9A class shares, no images.

    Defaults are the paper's row counts, so split sizes (23,988 / 5,998 / 400) can be
    checked without the real lists.
    """
    rng = np.random.default_rng([seed, 9])
    train = _list(rng, n_train, TRAIN_COUNTS_9A, 0)
    test = _list(rng, n_test, TEST_COUNTS_9A, 4 * (n_train + 1))
    return train, test


def write_covidx_lists(out: Path, train: pd.DataFrame, test: pd.DataFrame) -> tuple[Path, Path]:
    """Write both lists in the release format (space-separated, no header)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for split, frame in (("train", train), ("test", test)):
        path = out / LIST_NAMES[split]
        path.write_text("".join(" ".join(map(str, r)) + "\n" for r in frame[LIST_COLUMNS].itertuples(index=False)))
        paths.append(path)
    return paths[0], paths[1]


def _film_grid(size: int, tilt: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixel-centre coordinates, rotated like ``render_frontal`` rotates its film."""
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    xx, yy = np.meshgrid(c, c, indexing="xy")
    if tilt:
        ct, st = np.cos(tilt), np.sin(tilt)
        dx, dy = xx - 0.5, yy - 0.5
        xx, yy = 0.5 + ct * dx - st * dy, 0.5 + st * dx + ct * dy
    return xx.astype(np.float64), yy.astype(np.float64)


def _soft_ellipse(xx, yy, cx, cy, rx, ry, soft: float) -> np.ndarray:
    r = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    return np.clip((1.0 - r) / soft, 0.0, 1.0)


def add_ground_glass(pixels: np.ndarray, geometry, rng: np.random.Generator, severity: float) -> np.ndarray:
    """COVID-19 pattern on a rendered film: faint, blotchy haze, bilateral, peripheral, lower zones.

    ``geometry`` is the film's anatomy (``sample_geometry`` output), so the haze sits in
    the lungs; it raises density without hiding vessels, as ground glass does.
    """
    size = pixels.shape[0]
    g = geometry
    xx, yy = _film_grid(size, g.tilt)
    lower = np.clip((yy - (g.lung_cy - 0.02)) / 0.12, 0.0, 1.0)  # fades in from the mid zone down
    haze = np.zeros_like(xx)
    for i, outward in ((0, -1.0), (1, 1.0)):  # image-left lung grows outward to the left
        cx, rx = g.lung_cx[i], g.lung_rx[i]
        lung = np.maximum(_soft_ellipse(xx, yy, cx, g.lung_cy - 0.03, rx * 0.9, g.lung_ry, 0.2),
                          _soft_ellipse(xx, yy, cx, g.lung_cy + 0.08, rx, g.lung_ry * 0.72, 0.2))
        peripheral = np.clip(0.6 + outward * (xx - cx) / rx, 0.0, 1.0)
        haze += lung * peripheral * lower * rng.uniform(0.8, 1.0)
    blotches = np.clip(0.6 + 0.5 * smooth_noise(rng, size, max(6, size // 12)), 0.1, 1.2)
    amp = 0.16 + 0.16 * float(np.clip(severity, 0.0, 1.0))
    out = pixels.astype(np.float64) / 255 + amp * haze * blotches
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def render_covidx(rng: np.random.Generator, label: str, size: int) -> np.ndarray:
    """One film whose visible content follows its class (see the module docstring)."""
    findings: list[Finding] = []
    if label == "normal":
        if rng.uniform() < 0.2:
            findings.append(Finding(kind=str(rng.choice(NORMAL_DISTRACTORS)), side=str(rng.choice(["left", "right"])),
                                    severity=float(rng.uniform(0.4, 1.0))))
        return render_frontal(rng, size, findings)
    if label == "pneumonia":
        side = str(rng.choice(["left", "right"]))
        zones = ["lower", "middle", "upper"]
        zone = str(rng.choice(zones, p=[0.5, 0.3, 0.2]))
        findings.append(Finding(kind="opacity", side=side, zone=zone, severity=float(rng.uniform(0.6, 1.0))))
        if rng.uniform() < 0.35:  # a lobe spans two zones
            other = zones[min(zones.index(zone) + 1, 2)] if zone != "upper" else "middle"
            findings.append(Finding(kind="opacity", side=side, zone=other, severity=float(rng.uniform(0.5, 0.9))))
        return render_frontal(rng, size, findings)
    if rng.uniform() < 0.15:  # some COVID-19 films are ICU films with lines
        findings.append(Finding(kind="catheter", side=str(rng.choice(["left", "right"]))))
    # render_frontal draws its anatomy first from the generator: a copy gives the same geometry
    geometry = sample_geometry(copy.deepcopy(rng), findings)
    pixels = render_frontal(rng, size, findings)
    return add_ground_glass(pixels, geometry, rng, severity=float(rng.uniform(0.5, 1.0)))


def _write_image(task: tuple) -> None:
    path, seed, k, label, image_size = task
    pixels = render_covidx(np.random.default_rng([seed, k]), label, image_size)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        Image.fromarray(pixels).save(path, format="JPEG", quality=95)
    else:
        Image.fromarray(pixels).save(path, format="PNG")


def write_covidx(out: Path, *, seed: int, image_size: int, train: int = 400, test: int = 100,
                 workers: int = 1) -> pd.DataFrame:
    """Write ``train`` + ``test`` synthetic images and lists; returns the rows written with ``split``."""
    out = Path(out)
    train_rows, test_rows = synthetic_covidx_lists(train, test, seed)
    write_covidx_lists(out, train_rows, test_rows)
    tasks = []
    for split, frame in (("train", train_rows), ("test", test_rows)):
        (out / split).mkdir(parents=True, exist_ok=True)
        for r in frame.itertuples(index=False):
            tasks.append((out / split / r.filename, seed, len(tasks), r.label, image_size))
    parallel_map(_write_image, tasks, workers, "phantom covidx")
    return pd.concat([train_rows.assign(split="train"), test_rows.assign(split="test")], ignore_index=True)
