"""The reader contract and the CSV checks every reader shares."""

from __future__ import annotations

import zipfile
import zlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from benchmark.errors import DataError, first_line
from benchmark.imaging import Letterbox


class Reader(ABC):
    """Raw layout -> records table; subclasses set ``name`` and ``task_columns``."""

    name: ClassVar[str]
    #: columns of the records table that hold targets (copied into the store manifest)
    task_columns: ClassVar[tuple[str, ...]] = ()
    #: True when every image has a segmentation mask (the store then writes ``masks.npy``)
    has_masks: ClassVar[bool] = False

    @abstractmethod
    def records(self, root: Path) -> pd.DataFrame:
        """One row per image: ``id``, ``group``, ``path`` (relative to root) and targets.

        ``frame.attrs["skipped"]`` counts rows left out on purpose, by reason.
        """

    @abstractmethod
    def load_image(self, root: Path, rel_path: str) -> np.ndarray:
        """Decode one image to 2-D uint8."""

    def place_targets(self, row: pd.Series, height: int, width: int, lb: Letterbox, root: Path) -> dict:
        """Map geometric targets (boxes, masks) of one record into store coordinates.

        Called with the decoded image size, so out-of-image annotations are caught here.
        """
        return {}

    def load_mask(self, root: Path, row: pd.Series, height: int, width: int) -> np.ndarray:
        """Boolean (height, width) mask in the image's original pixels (readers with ``has_masks``)."""
        raise NotImplementedError(f"{self.name} has no masks")

    def check_root(self, root: Path) -> Path:
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, f"{self.name} dataset root not found")
        return root


def read_table(path: Path, required: tuple[str, ...], **kwargs) -> pd.DataFrame:
    """Read a CSV (plain, gz or zip) and check it has the required columns."""
    if not path.is_file():
        raise DataError(path, "label file not found")
    try:
        frame = pd.read_csv(path, **kwargs)
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
