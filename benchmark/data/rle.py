"""Run-length encoding of the SIIM-ACR Pneumothorax label file (``train-rle.csv``).

The SIIM format is not the usual Kaggle RLE, so it gets its own codec:

* the image is flattened in column-major (Fortran) order, i.e. pixel ``(y, x)`` of an
  image with ``height`` rows sits at flat index ``x * height + y``;
* ``EncodedPixels`` is ``start length start length ...`` where every start is
  *relative*: the number of background pixels since the end of the previous run
  (the first start is therefore the 0-based flat index of the first run);
* ``-1`` (often written `` -1`` after the comma) means "no pneumothorax".

Getting any of these wrong still yields plausible-looking masks (transposed, or
shifted), which is why the conventions were checked against the real label file:
decoded masks sit over the lungs, left or right of the spine, and every run ends
inside 1024 x 1024.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

#: The label that marks an image without pneumothorax.
NEGATIVE = "-1"
_INTEGER = re.compile(r"-?[0-9]{1,15}")  # at most 15 digits: int64-safe
_PAIRS = re.compile(r"-?[0-9]{1,15}(?:[ \t]+-?[0-9]{1,15})*")


class RleError(ValueError):
    """Malformed or out-of-image RLE; readers turn it into a DataError with file and row."""


def is_negative(value: object) -> bool:
    """True for the "no mask" label, with or without the space the CSV puts after the comma."""
    return str(value).strip() == NEGATIVE


def parse_rle(value: str) -> tuple[np.ndarray, np.ndarray]:
    """Absolute 0-based run starts and run lengths of one RLE string (``-1`` gives no runs).

    Raises RleError unless the string is non-negative integer pairs with positive lengths.
    """
    text = str(value).strip()
    if text == NEGATIVE:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not text:
        raise RleError("empty EncodedPixels (use -1 for no pneumothorax)")
    if not _PAIRS.fullmatch(text):
        bad = next((t for t in text.split() if not _INTEGER.fullmatch(t)), None)
        what = f"token {bad[:20]!r}" if bad is not None else "numbers must be separated by spaces"
        raise RleError(f"EncodedPixels is not integer pairs ({what})")
    numbers = np.fromstring(text, dtype=np.int64, sep=" ")  # the regex above vouches for every token
    if len(numbers) % 2:
        raise RleError(f"EncodedPixels has an odd number of integers ({len(numbers)}); expected start/length pairs")
    rel_starts, lengths = numbers[0::2], numbers[1::2]
    if (rel_starts < 0).any():
        raise RleError(f"negative run start {int(rel_starts[rel_starts < 0][0])}")
    if (lengths <= 0).any():
        raise RleError(f"run length must be positive, got {int(lengths[lengths <= 0][0])}")
    # absolute start = sum of all previous gaps and runs, plus this gap
    starts = np.cumsum(rel_starts) + np.concatenate(([0], np.cumsum(lengths)[:-1]))
    return starts, lengths


def rle_decode(value: str, height: int, width: int) -> np.ndarray:
    """Boolean (height, width) mask of one RLE string; RleError if a run leaves the image."""
    starts, lengths = parse_rle(value)
    total = int(height) * int(width)
    flat = np.zeros(total, dtype=bool)
    if len(starts):
        end = int(starts[-1] + lengths[-1])  # starts increase, so the last run ends last
        if end > total:
            raise RleError(f"run ends at pixel {end}, past the end of the {width}x{height} image ({total} pixels)")
        # alternate background and run segments: gap, run, gap, run, ..., tail
        gaps = starts - np.concatenate(([0], (starts + lengths)[:-1]))
        counts = np.column_stack((gaps, lengths)).ravel()
        flat = np.repeat(np.tile([False, True], len(starts)), counts)
        flat = np.concatenate((flat, np.zeros(total - end, dtype=bool)))
    return np.ascontiguousarray(flat.reshape((int(height), int(width)), order="F"))


def rle_union(values: Iterable[str], height: int, width: int) -> np.ndarray:
    """Union of several RLE rows of one image (the label file may list one row per region)."""
    mask = np.zeros((int(height), int(width)), dtype=bool)
    for value in values:
        mask |= rle_decode(value, height, width)
    return mask


def rle_encode(mask: np.ndarray) -> str:
    """SIIM RLE of a 2-D mask (``-1`` when empty); ``rle_decode`` of it gives the mask back."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    flat = np.concatenate(([False], mask.astype(bool).ravel(order="F"), [False]))
    change = np.flatnonzero(flat[1:] != flat[:-1])
    if not len(change):
        return NEGATIVE
    starts, ends = change[0::2], change[1::2]
    gaps = starts - np.concatenate(([0], ends[:-1]))
    pairs = np.column_stack((gaps, ends - starts)).ravel()
    return " ".join(str(int(v)) for v in pairs)
