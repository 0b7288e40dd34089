"""The reader contract and the CSV checks every reader shares."""

from __future__ import annotations

import zipfile
import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from benchmark.core.errors import DataError, first_line
from benchmark.data.imaging import Letterbox, read_image_reduced, read_image_uint8


class Reader(ABC):
    """Raw layout -> records table; subclasses set ``name`` and ``task_columns``."""

    name: ClassVar[str]
    #: columns of the records table that hold targets (copied into the store manifest)
    task_columns: ClassVar[tuple[str, ...]] = ()
    #: True when every image of the dataset has a segmentation mask (the store then writes ``masks.npy``)
    has_masks: ClassVar[bool] = False
    #: options a profile may set (``store.reader_options.<dataset>``): name -> allowed values, default first
    OPTIONS: ClassVar[dict[str, tuple]] = {}

    def __init__(self, **options) -> None:
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise DataError(None, f"{self.name}: unknown reader option {unknown[0]!r} (have: {', '.join(self.OPTIONS) or 'none'})")
        for key, value in options.items():
            if value not in self.OPTIONS[key]:
                raise DataError(None, f"{self.name}: reader option {key} {value!r} is not one of "
                                f"{', '.join(map(str, self.OPTIONS[key]))}")
        self.options = {key: options.get(key, allowed[0]) for key, allowed in self.OPTIONS.items()}

    @abstractmethod
    def records(self, root: Path) -> pd.DataFrame:
        """One row per image: ``id``, ``group``, ``path`` (relative to root) and targets.

        ``frame.attrs["skipped"]`` counts rows left out on purpose, by reason.
        """

    @abstractmethod
    def load_image(self, root: Path, rel_path: str) -> np.ndarray:
        """Decode one image to 2-D uint8."""

    def load_image_reduced(self, root: Path, rel_path: str, min_side: int) -> tuple[np.ndarray, tuple[int, int]]:
        """One image decoded at a reduced size where its codec can do that cheaply (no side below
        ``min_side``), and its full (height, width). Here: the full decode (DICOM has no such mode)."""
        pixels = self.load_image(root, rel_path)
        return pixels, pixels.shape

    def place_targets(self, row: pd.Series, height: int, width: int, lb: Letterbox, root: Path) -> dict:
        """Map geometric targets (boxes, masks) of one record into store coordinates.

        Called with the decoded image size, so out-of-image annotations are caught here.
        """
        return {}

    def masks_at(self, root: Path) -> bool:
        """Whether the store of ``root`` gets ``masks.npy``: ``has_masks``, unless the layout decides
        (the MIMIC phantom's finding masks, a folder the real dataset does not have). Asked once per
        root by the store, so the answer is never state left behind by an earlier ``records`` call."""
        return self.has_masks

    def load_mask(self, root: Path, row: pd.Series, height: int, width: int) -> np.ndarray:
        """Boolean (height, width) mask in the image's original pixels (where ``masks_at(root)``)."""
        raise NotImplementedError(f"{self.name} has no masks")

    def check_root(self, root: Path) -> Path:
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, f"{self.name} dataset root not found")
        return root


class ImageFileReader(Reader):
    """A reader whose images are JPEG or PNG files (PIL decodes them; JPEG can decode reduced)."""

    def load_image(self, root: Path, rel_path: str) -> np.ndarray:
        return read_image_uint8(Path(root) / rel_path)

    def load_image_reduced(self, root: Path, rel_path: str, min_side: int) -> tuple[np.ndarray, tuple[int, int]]:
        return read_image_reduced(Path(root) / rel_path, min_side)


def walk_files(root: Path, suffix: str) -> list[Path]:
    """Every file under ``root`` ending in ``suffix`` (case-insensitive), in sorted order, following
    symbolic links to folders (a dataset assembled from links is common on shared storage; a link
    loop is visited once)."""
    import os

    found, seen = [], set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        found += [Path(folder) / name for name in sorted(files) if name.lower().endswith(suffix)]
    return found


def confined_name(name: str, label_file: Path, row: int) -> str:
    """A file name from a label file, normalised (``./a.jpg`` -> ``a.jpg``) and confined to its
    split's folder: an absolute path, a backslash or a ``..`` step (``../test/x.jpg`` listed
    as training data would store a test image as a training image) is an error."""
    from pathlib import PurePosixPath

    value = str(name).strip()
    parts = PurePosixPath(value).parts
    if not value or "\\" in value or value.startswith("/") or ".." in parts or not [p for p in parts if p != "."]:
        raise DataError(label_file, f"file name {value!r} must be a plain path inside its folder", row=row)
    return PurePosixPath(*[p for p in parts if p != "."]).as_posix()


#: how far (pixels) a box may reach past the image's far edge (annotation tools put corners on the edge)
EDGE_SLACK = 1.0


def check_boxes_in_image(boxes: list[list[float]], width: int, height: int, label_file: Path, rows: list[int],
                         image: str) -> None:
    """Every box ``[x1, y1, x2, y2]`` lies in the ``width`` x ``height`` image (``EDGE_SLACK`` past the
    far edge allowed) and keeps at least one pixel in each direction once clipped to it: a box
    beyond the image, or thinner than a pixel, can be matched by no prediction and rasterises to
    an empty mask while its image counts as positive. Else a DataError naming the box's row."""
    for (x1, y1, x2, y2), row in zip(boxes, rows):
        clipped_w, clipped_h = min(x2, width) - max(x1, 0), min(y2, height) - max(y1, 0)
        if x1 < 0 or y1 < 0 or x2 > width + EDGE_SLACK or y2 > height + EDGE_SLACK:
            problem = "outside"
        elif clipped_w < 1 or clipped_h < 1:
            problem = "less than a pixel wide or high inside"
        else:
            continue
        raise DataError(label_file, f"box [{x1:g}, {y1:g}, {x2:g}, {y2:g}] {problem} the {width}x{height} image {image}",
                        row=int(row))


def read_table(path: Path, required: tuple[str, ...], **kwargs) -> pd.DataFrame:
    """Read a CSV (plain, gz or zip) and check it has the required columns."""
    if not path.is_file():
        raise DataError(path, "label file not found")
    try:
        # utf-8-sig: a byte-order mark would otherwise stick to the first column's name or first id
        frame = pd.read_csv(path, **{"encoding": "utf-8-sig", **kwargs})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as err:
        raise DataError(path, f"cannot parse CSV ({first_line(err)})") from None
    except (EOFError, zlib.error, zipfile.BadZipFile) as err:  # truncated or corrupt .gz / .zip
        raise DataError(path, f"cannot decompress ({type(err).__name__}: {first_line(err)})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {', '.join(missing)} (found: {', '.join(frame.columns)})")
    if frame.empty:
        raise DataError(path, "no rows")
    return frame


def cell(value: object) -> str:
    """A table cell as a person reads it in the file: ``2.0``, ``nan``, ``'abc'`` (not ``np.float64(2.0)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def choice_column(values: pd.Series, allowed: tuple[str, ...], path: Path, rule: str) -> pd.Series:
    """Stripped text cells that must be one of ``allowed``; the first other value is a
    DataError naming its row (``rule`` says what is allowed, e.g. "split must be ...")."""
    out = values.fillna("").astype(str).str.strip()
    bad = ~out.isin(allowed).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"{rule}, got {cell(values.iloc[i])}", row=csv_row(i))
    return out


def csv_row(index: int) -> int:
    """Row number as a person counts it in the file: header is line 1, first record line 2."""
    return int(index) + 2
