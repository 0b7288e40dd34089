"""Object-CXR-shaped phantom with SYNTHETIC foreign objects (the annotations do not ship offline).

Layout written (as in the JF Healthcare object-CXR release)::

    train.csv, dev.csv     image_name,annotation
    train/<NNNNN>.jpg      numbered from 00001 on; dev continues the numbering
    dev/<NNNNN>.jpg

What is synthetic: exactly half of each list has foreign objects, as in the release
(5,000 with / 5,000 without over all three sets); a positive film has 1-3 objects
(60 / 30 / 10 %). Objects are radio-opaque (bright) and lie in the chest: rectangles
(type 0, e.g. clips and buckles), ellipses (type 1, buttons, coins) and star-shaped
polygons of 3-8 vertices (type 2, irregular objects), 40 / 30 / 30 %, each 3-15 % of
the film's size. The annotation string is written in the release format
(``type x1 y1 x2 y2 ...`` with integer pixels, objects joined by ``;``, empty when
none). Films are cropped to a random width (80-100 % of the height), since real films
are not square; negatives sometimes get a nodule, which looks like a button.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from benchmark.data.phantom.anatomy import Finding, render_frontal
from benchmark.data.phantom.parallel import parallel_map

OBJECT_TYPES = (0, 1, 2)
OBJECT_TYPE_CUMULATIVE = list(np.cumsum([0.4, 0.3, 0.3]))
OBJECTS_PER_POSITIVE = (1, 2, 3)
OBJECTS_PER_POSITIVE_CUMULATIVE = list(np.cumsum([0.6, 0.3, 0.1]))
# The list-only helper has no images; its coordinates are in a nominal film of this size.
NOMINAL_SIZE = (2048, 2048)

Obj = tuple[int, list[int]]  # (type, flat [x1, y1, x2, y2, ...])


def _pick(rng: np.random.Generator, options: tuple, cumulative: list[float]):
    """``rng.choice(options, p=...)`` from cumulative weights, cheaply (called per object)."""
    return options[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def synthetic_objects(rng: np.random.Generator, width: int, height: int) -> list[Obj]:
    """1-3 random objects inside the chest region of a ``width`` x ``height`` film."""
    n = _pick(rng, OBJECTS_PER_POSITIVE, OBJECTS_PER_POSITIVE_CUMULATIVE)
    objects: list[Obj] = []
    for _ in range(n):
        kind = _pick(rng, OBJECT_TYPES, OBJECT_TYPE_CUMULATIVE)
        # centres in the lung fields of the rendered anatomy (the challenge annotates objects there)
        cx, cy = rng.uniform(0.22, 0.78) * width, rng.uniform(0.2, 0.72) * height
        hw = rng.uniform(0.015, 0.075) * width
        hh = rng.uniform(0.015, 0.075) * height
        if kind == 2:
            k = int(rng.integers(3, 9))
            # one vertex per sector of the circle, so that the polygon surrounds its centre
            angles = (np.arange(k) + rng.uniform(0, 1, size=k)) * 2 * np.pi / k
            radius = rng.uniform(0.5, 1.0, size=k)
            xs, ys = cx + hw * radius * np.cos(angles), cy + hh * radius * np.sin(angles)
        else:
            xs, ys = np.array([cx - hw, cx + hw]), np.array([cy - hh, cy + hh])
        xs = _at_least_two_pixels(np.clip(np.rint(xs), 0, width - 1).astype(int), width)
        ys = _at_least_two_pixels(np.clip(np.rint(ys), 0, height - 1).astype(int), height)
        objects.append((kind, [int(v) for xy in zip(xs, ys) for v in xy]))
    return objects


def _at_least_two_pixels(coords: np.ndarray, size: int) -> np.ndarray:
    """Integer coordinates whose extent is at least 2 px: a smaller object, after rounding, would
    be a box that no prediction can match (the reader refuses such boxes)."""
    if coords.max() - coords.min() >= 2:
        return coords
    low, high = int(np.argmin(coords)), int(np.argmax(coords))
    if low == high:
        high = (low + 1) % len(coords)
    coords = coords.copy()
    coords[low] = coords.min() - 1 if coords.min() >= 1 else coords.min()
    coords[high] = coords[low] + 2 if coords[low] + 2 <= size - 1 else size - 1
    coords[low] = min(coords[low], coords[high] - 2)
    return coords


def format_annotation(objects: list[Obj]) -> str:
    """The release's annotation string: ``type x1 y1 ...`` per object, joined by ``;``."""
    return ";".join(" ".join(str(v) for v in (kind, *coords)) for kind, coords in objects)


def draw_objects(pixels: np.ndarray, objects: list[Obj], rng: np.random.Generator) -> np.ndarray:
    """Blend bright (radio-opaque) filled shapes into a uint8 film."""
    mask_img = Image.new("L", (pixels.shape[1], pixels.shape[0]), 0)
    draw = ImageDraw.Draw(mask_img)
    for kind, coords in objects:
        points = list(zip(coords[0::2], coords[1::2]))
        if kind == 0:
            draw.rectangle([*points[0], *points[1]], fill=255)
        elif kind == 1:
            draw.ellipse([*points[0], *points[1]], fill=255)
        else:
            draw.polygon(points, fill=255)
    mask = np.asarray(mask_img, dtype=np.float64) / 255
    bright = rng.uniform(0.88, 1.0)
    alpha = rng.uniform(0.8, 1.0)
    film = pixels.astype(np.float64) / 255
    out = film * (1 - alpha * mask) + bright * alpha * mask
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def _positives(rng: np.random.Generator, n: int) -> np.ndarray:
    flags = np.zeros(n, dtype=bool)
    flags[rng.permutation(n)[: n // 2]] = True
    return flags


def synthetic_object_cxr_lists(n_train: int = 8_000, n_dev: int = 1_000,
                               seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic ``train.csv`` and ``dev.csv`` tables (``image_name``, ``annotation``), no images.

    Defaults are the release's row counts, for split-size checks (6,400 / 1,600 / 1,000).
    Coordinates are in a nominal :data:`NOMINAL_SIZE` film.
    """
    rng = np.random.default_rng([seed, 11])
    frames = []
    start = 0
    for n in (n_train, n_dev):
        flags = _positives(rng, n)
        notes = [format_annotation(synthetic_objects(rng, *NOMINAL_SIZE)) if flags[i] else "" for i in range(n)]
        frames.append(pd.DataFrame({"image_name": [f"{start + i + 1:05d}.jpg" for i in range(n)], "annotation": notes}))
        start += n
    return frames[0], frames[1]


def _write_image(task: tuple) -> dict:
    path, seed, k, positive, image_size = task
    rng = np.random.default_rng([seed, k])
    findings = []
    if not positive and rng.uniform() < 0.2:
        findings.append(Finding(kind=str(rng.choice(["nodule", "granuloma"])), side=str(rng.choice(["left", "right"]))))
    film = render_frontal(rng, image_size, findings)
    width = int(round(image_size * rng.uniform(0.8, 1.0)))
    left = (image_size - width) // 2
    film = np.ascontiguousarray(film[:, left:left + width])
    objects = synthetic_objects(rng, width, image_size) if positive else []
    if objects:
        film = draw_objects(film, objects, rng)
    Image.fromarray(film).save(path, format="JPEG", quality=95)
    return {"annotation": format_annotation(objects), "width": width, "height": image_size}


def write_object_cxr(out: Path, *, seed: int, image_size: int, train: int = 400, dev: int = 100,
                     workers: int = 1) -> pd.DataFrame:
    """Write ``train`` + ``dev`` films and both CSVs; returns rows with ``split``, ``width``, ``height``."""
    out = Path(out)
    rng = np.random.default_rng([seed, 11])
    tasks, meta = [], []
    for split, n in (("train", train), ("dev", dev)):
        (out / split).mkdir(parents=True, exist_ok=True)
        for positive in _positives(rng, n):
            name = f"{len(tasks) + 1:05d}.jpg"
            tasks.append((out / split / name, seed, len(tasks), bool(positive), image_size))
            meta.append({"image_name": name, "split": split})
    drawn = parallel_map(_write_image, tasks, workers, "phantom object_cxr")
    frame = pd.concat([pd.DataFrame(meta), pd.DataFrame(drawn)], axis=1)
    for split in ("train", "dev"):
        frame.loc[frame["split"] == split, ["image_name", "annotation"]].to_csv(out / f"{split}.csv", index=False)
    return frame
