"""Batch transforms from store uint8 images to normalised 3-channel tensors.

Done on whole batches with tensor ops (no per-sample PIL work): training takes a
random crop of ``crop_scale`` of the side resized to ``size``; evaluation resizes the
full image. Grey values are mapped to [-1, 1] (mean 0.5, std 0.5 on all channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MEAN, STD = 0.5, 0.5


def to_input(images_uint8: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, W) uint8 -> (B, 3, size, size) float, normalised."""
    x = images_uint8.to(torch.get_default_dtype()).div_(255.0).unsqueeze(1)  # the stage's precision
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return ((x - MEAN) / STD).expand(-1, 3, -1, -1).contiguous()


#: MGCA's evaluation input: resize to 256, centre crop 224 (the resize side is kept at this ratio)
CENTER_CROP_RATIO = 256 / 224
EVAL_CROPS = ("resize", "center")


def eval_input(images_uint8: torch.Tensor, size: int, crop: str = "resize") -> torch.Tensor:
    """Evaluation input: the whole image resized to ``size`` (``resize``, ours), or resized to
    ``size`` x 256/224 and centre-cropped to ``size`` (``center``: MGCA's Resize(256) + CenterCrop(224),
    which drops the image's outer 1/16 on each side)."""
    if crop == "resize":
        return to_input(images_uint8, size)
    if crop != "center":
        raise ValueError(f"evaluation crop {crop!r} is not one of {', '.join(EVAL_CROPS)}")
    side = round(size * CENTER_CROP_RATIO)
    x = to_input(images_uint8, side)
    top = int(round((side - size) / 2.0))  # torchvision's centre-crop offset
    return x[..., top:top + size, top:top + size].contiguous()


def crop_boxes(n: int, side: int, generator: torch.Generator, min_scale: float = 0.8) -> torch.Tensor:
    """(n, 3) int64 rows (crop side, top, left): one random square crop of ``min_scale``..1 of
    a ``side``-pixel image per sample. Drawn per sample index for a whole epoch, so a
    sample gets the same crop whichever process or batch position it lands in."""
    scales = min_scale + (1 - min_scale) * torch.rand(n, generator=generator)
    sides = (scales * side).round().long().clamp(1, side)
    room = (side - sides + 1).double()
    top = (torch.rand(n, generator=generator, dtype=torch.float64) * room).long()
    left = (torch.rand(n, generator=generator, dtype=torch.float64) * room).long()
    return torch.stack([sides, top, left], dim=1)


def crop_input(images_uint8: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crop each (H, W) image to its (side, top, left) box and resize to ``size`` (see :func:`crop_boxes`)."""
    return torch.cat([to_input(images_uint8[i:i + 1, top:top + s, left:left + s], size)
                      for i, (s, top, left) in enumerate(boxes.tolist())])
