"""Batch transforms from store uint8 images to normalised 3-channel tensors.

Done on whole batches with tensor ops (no per-sample PIL work): training takes a
random crop of ``crop_scale`` of the side resized to ``size``; evaluation resizes the
full image. Grey values are mapped to [-1, 1] (mean 0.5, std 0.5 on all channels).
"""

from __future__ import annotations

import math

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


def crop_masks(masks_uint8: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(B, H, W) 0/1 masks cropped like :func:`crop_input` crops their images, as each ``size``-grid
    pixel's covered share (B, 1, size, size) in the stage's precision (area resize: no mask pixel is lost)."""
    dense = masks_uint8.to(torch.get_default_dtype()).unsqueeze(1)
    return torch.cat([F.interpolate(dense[i:i + 1, :, top:top + s, left:left + s], size=(size, size), mode="area")
                      for i, (s, top, left) in enumerate(boxes.tolist())])


def probe_train_input(images_uint8: torch.Tensor, size: int, gen: torch.Generator, jitter: bool = False) -> torch.Tensor:
    """MGCA's training input for its linear probe (``mgca/datasets/transforms.py``): the image at
    ``size`` x 256/224 px, a random ``size`` crop (``DataTransforms``); with ``jitter`` (CheXpert's
    ``Moco2Transform``) also, each with its probability, brightness and contrast in 0.6-1.4 (p 0.8;
    saturation, hue and RandomGrayscale change nothing on a grey image), a Gaussian blur of sigma
    0.1-2 (p 0.5) and a horizontal flip (p 0.5). Draws come from ``gen``, one set per sample."""
    from torchvision.transforms.v2 import functional as TF

    side = round(size * CENTER_CROP_RATIO)
    x = images_uint8.to(torch.get_default_dtype()).div(255.0).unsqueeze(1)
    x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
    offsets = (torch.rand(len(x), 2, generator=gen, dtype=torch.float64) * (side - size + 1)).long().tolist()
    x = torch.cat([x[i:i + 1, :, top:top + size, left:left + size] for i, (top, left) in enumerate(offsets)])
    if jitter:
        draws = torch.rand(len(x), 8, generator=gen, dtype=torch.float64).tolist()
        out = []
        for img, (p_jit, b, c, order, p_blur, sigma, p_flip, _) in zip(x, draws):
            if p_jit < 0.8:
                ops = [lambda t, f=0.6 + 0.8 * b: TF.adjust_brightness(t, f), lambda t, f=0.6 + 0.8 * c: TF.adjust_contrast(t, f)]
                for op in (ops if order < 0.5 else ops[::-1]):  # ColorJitter applies its factors in a random order
                    img = op(img)
            if p_blur < 0.5:
                s = 0.1 + 1.9 * sigma
                k = 2 * math.ceil(3 * s) + 1
                img = TF.gaussian_blur(img, kernel_size=[k, k], sigma=[s, s])
            if p_flip < 0.5:
                img = img.flip(-1)
            out.append(img)
        x = torch.stack(out)
    return ((x - MEAN) / STD).expand(-1, 3, -1, -1).contiguous()
