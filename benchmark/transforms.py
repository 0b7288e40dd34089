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
    x = images_uint8.float().div_(255.0).unsqueeze(1)
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return ((x - MEAN) / STD).expand(-1, 3, -1, -1).contiguous()


def random_crop_input(images_uint8: torch.Tensor, size: int, generator: torch.Generator,
                      min_scale: float = 0.8) -> torch.Tensor:
    """Random square crops (scale ``min_scale``..1 of the side, one per image), resized to ``size``."""
    b, h, w = images_uint8.shape
    out = []
    scales = min_scale + (1 - min_scale) * torch.rand(b, generator=generator)
    for i in range(b):
        side = max(1, int(round(float(scales[i]) * min(h, w))))
        top = int(torch.randint(0, h - side + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - side + 1, (1,), generator=generator))
        out.append(to_input(images_uint8[i:i + 1, top:top + side, left:left + side], size))
    return torch.cat(out)
