"""Joint image and mask augmentation for the segmentation head's training batches.

MGCA trains its U-Net with albumentations' ``ShiftScaleRotate(shift_limit=0, scale_limit=0.1,
rotate_limit=10, p=0.5, border_mode=BORDER_CONSTANT)`` applied to the image and its mask
together (``mgca/datasets/segmentation_dataset.py``). This is the same draw with torchvision:
with probability ``p`` one rotation in [-10, 10] degrees and one scale in [0.9, 1.1] about the
centre, bilinear for the image, nearest for the mask, zeros outside. The draws come from the
run's seeded generator, so a seeded run is repeatable. Augmented batches must be encoded anew,
so the profile must not cache the encoder's maps (the schema refuses the combination).
"""

from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF


def shift_scale_rotate(images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator, *, scale_limit: float = 0.1,
                       rotate_limit: float = 10.0, p: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S, S) uint8 images and (B, s, s) masks, each pair turned and scaled alike (S may differ
    from s: the transform is about the centre, in fractions of the image, so it is the same at
    both resolutions)."""
    if len(images) != len(masks):
        raise ValueError(f"{len(images)} images but {len(masks)} masks")
    draws = torch.rand(len(images), 3, generator=gen, dtype=torch.float64)
    out_images, out_masks = images.clone(), masks.clone()
    for k, (u, a, s) in enumerate(draws.tolist()):
        if u >= p:
            continue
        angle, scale = (2 * a - 1) * rotate_limit, 1 + (2 * s - 1) * scale_limit
        kwargs = {"angle": angle, "translate": [0, 0], "scale": scale, "shear": [0.0, 0.0], "fill": 0}
        out_images[k] = TF.affine(images[k][None], interpolation=InterpolationMode.BILINEAR, **kwargs)[0]
        out_masks[k] = TF.affine(masks[k][None], interpolation=InterpolationMode.NEAREST, **kwargs)[0]
    return out_images, out_masks
