"""Image geometry shared by every reader: keep the aspect ratio, pad, resize.

The store holds square uint8 images. Like the reference preprocessing of the field,
the long side is scaled to the target size and the short side is zero-padded
symmetrically; boxes and masks go through the same transform (:class:`Letterbox`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.core.errors import DataError


@dataclass(frozen=True)
class Letterbox:
    """Maps original pixel coordinates to the padded, resized square image."""

    scale: float
    pad_x: float
    pad_y: float
    size: int

    @classmethod
    def fit(cls, height: int, width: int, size: int) -> "Letterbox":
        scale = size / max(height, width)
        return cls(scale=scale, pad_x=(size - width * scale) / 2, pad_y=(size - height * scale) / 2, size=size)

    def box(self, x1: float, y1: float, x2: float, y2: float) -> tuple[float, float, float, float]:
        s = self.scale
        return (x1 * s + self.pad_x, y1 * s + self.pad_y, x2 * s + self.pad_x, y2 * s + self.pad_y)


def letterbox(image: np.ndarray, size: int, resample: int = Image.BILINEAR,
              full_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Resize a 2-D uint8 image so its long side is ``size``, then zero-pad to ``size`` x ``size``.

    ``full_shape`` is the (height, width) the image has at full resolution when ``image`` was
    decoded at a reduced size: the placement is computed from it, so boxes and masks placed with
    ``Letterbox.fit`` of the full size still match the pixels."""
    h, w = image.shape if full_shape is None else full_shape
    lb = Letterbox.fit(h, w, size)
    new_w, new_h = max(1, round(w * lb.scale)), max(1, round(h * lb.scale))
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), resample))
    out = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top:top + new_h, left:left + new_w] = resized
    return out


#: PIL modes holding more than 8 bits per grey pixel (16-bit PNG, 32-bit int or float TIFF)
WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def scale_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Grey values of any depth to uint8 as the reference preprocessing does: shift negative
    data to start at 0, then scale by 255 / max (an all-zero image stays zero)."""
    pixels = np.asarray(pixels, dtype=np.float64)
    pixels = pixels - min(0.0, float(pixels.min()))
    peak = float(pixels.max())
    scaled = pixels * (255.0 / peak) if peak > 0 else pixels
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


#: images above this many pixels are skipped (counted) instead of decoded: PIL's decompression-bomb
#: guard; a chest film is ~3,000 x 3,000 = 9 M
MAX_PIXELS = 100_000_000
#: images smaller than this on a side, or of one grey value, carry no content to learn from
MIN_SIDE = 16


class SkippedImage(Exception):
    """An image that is left out of the store on purpose; ``reason`` is counted in store.json."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def degenerate(pixels: np.ndarray) -> str | None:
    """Why a decoded image is unusable (too small, constant), or None."""
    if min(pixels.shape) < MIN_SIDE:
        return f"image smaller than {MIN_SIDE} px on a side"
    if int(pixels.min()) == int(pixels.max()):
        return "constant image (one grey value)"
    return None


def read_image_uint8(path: str | Path) -> np.ndarray:
    """Decode a JPEG/PNG to a 2-D uint8 array, or raise DataError naming the file.

    8-bit grey, colour and palette images become PIL's "L"; 16-bit (and 32-bit) grey
    images are scaled by 255 / max like DICOMs (PIL's own conversion would clip every
    value above 255 to white).
    """
    return _decode(path, None)[0]


def read_image_reduced(path: str | Path, min_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The image decoded at a reduced size where the codec offers it, and its full (height, width).

    A JPEG is decoded with libjpeg's DCT scaling (PIL's draft mode: 1/2, 1/4 or 1/8 of each side,
    the smallest that keeps both sides at least ``min_side``), which skips most of the decoding
    work of a 2,500 x 3,000 film bound for a 256 px store. Other formats, and JPEGs too small to
    reduce, are decoded in full: then the pixels equal :func:`read_image_uint8`'s."""
    return _decode(path, int(min_side))


def _decode(path: str | Path, min_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    path = Path(path)
    try:
        with warnings.catch_warnings(), Image.open(path) as img:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if img.width * img.height > MAX_PIXELS:
                raise SkippedImage(f"image larger than {MAX_PIXELS:,} pixels")
            full = (img.height, img.width)
            if min_side is not None and img.format == "JPEG":
                img.draft(img.mode, (min_side, min_side))  # same mode: only the scale changes
            img.load()
            wide = img.mode in WIDE_MODES
            pixels = np.asarray(img) if wide else np.asarray(img.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(path, "image file missing") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SkippedImage(f"image larger than {MAX_PIXELS:,} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(path, f"cannot decode image ({err})") from None
    if wide:
        if pixels.ndim != 2 or not np.isfinite(pixels).all():
            raise DataError(path, f"cannot decode image (mode {img.mode}: expected finite grey values)")
        return scale_to_uint8(pixels), full
    return pixels, full
