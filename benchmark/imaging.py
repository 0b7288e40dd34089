"""Image geometry shared by every reader: keep the aspect ratio, pad, resize.

The store holds square uint8 images. Like the reference preprocessing of the field,
the long side is scaled to the target size and the short side is zero-padded
symmetrically; boxes and masks go through the same transform (:class:`Letterbox`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.errors import DataError


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


def letterbox(image: np.ndarray, size: int, resample: int = Image.BILINEAR) -> np.ndarray:
    """Resize a 2-D uint8 image so its long side is ``size``, then zero-pad to ``size`` x ``size``."""
    h, w = image.shape
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


def read_image_uint8(path: str | Path) -> np.ndarray:
    """Decode a JPEG/PNG to a 2-D uint8 array, or raise DataError naming the file.

    8-bit grey, colour and palette images become PIL's "L"; 16-bit (and 32-bit) grey
    images are scaled by 255 / max like DICOMs (PIL's own conversion would clip every
    value above 255 to white).
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            wide = img.mode in WIDE_MODES
            pixels = np.asarray(img) if wide else np.asarray(img.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(path, "image file missing") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(path, f"cannot decode image ({err})") from None
    if wide:
        if pixels.ndim != 2 or not np.isfinite(pixels).all():
            raise DataError(path, f"cannot decode image (mode {img.mode}: expected finite grey values)")
        return scale_to_uint8(pixels)
    return pixels
