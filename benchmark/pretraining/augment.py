"""Pre-training augmentations as data: a recipe's ``augment`` is a list of torchvision
``transforms.v2`` steps, ``[{RandomCrop: {size: input_size}}, {RandomRotation: {degrees: [0, 90]}}]``,
the way each official repository writes its own (names and arguments as torchvision spells them;
``input_size`` stands for the profile's input size, so a small profile runs the same pipeline).

Only the transforms below can be named (no code is evaluated from config). Each sample is
augmented under its own seed, drawn from (run seed, epoch, sample index): a sample gets the same
augmentation whichever process or batch position it lands in, so a ``torchrun`` run still
computes what a one-process run computes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.core.errors import DataError
from benchmark.data.transforms import MEAN, STD

#: the torchvision.transforms.v2 classes a recipe may name
ALLOWED = ("RandomCrop", "RandomResizedCrop", "Resize", "CenterCrop", "RandomRotation", "RandomAffine",
           "RandomPerspective", "RandomGrayscale", "RandomAutocontrast", "ColorJitter", "RandomHorizontalFlip",
           "GaussianBlur")
INPUT_SIZE = "input_size"


def build_pipeline(steps: list, size: int):
    """``steps`` (a recipe's ``augment`` list) as one ``transforms.v2.Compose``."""
    from torchvision.transforms import v2

    built = []
    for step in steps:
        if not (isinstance(step, dict) and len(step) == 1):
            raise DataError(None, f"pretrain: augment step {step!r} must be a mapping {{TransformName: {{arguments}}}}")
        (name, kwargs), = step.items()
        if name not in ALLOWED:
            raise DataError(None, f"pretrain: augment step {name!r} is not one of {', '.join(ALLOWED)}")
        kwargs = {k: size if v == INPUT_SIZE else v for k, v in (kwargs or {}).items()}
        try:
            built.append(getattr(v2, name)(**kwargs))
        except (TypeError, ValueError) as err:
            raise DataError(None, f"pretrain: augment step {name}: {err}") from None
    return v2.Compose(built)


def sample_seeds(seed: int, epoch: int, indices: torch.Tensor | list[int]) -> list[int]:
    """One seed per sample index for this epoch (independent of rank and batch position)."""
    return [(seed * 1_000_003 + epoch) * 1_000_033 + int(i) for i in indices]


def augment_batch(images_uint8: torch.Tensor, pipeline, seeds: list[int], size: int) -> torch.Tensor:
    """(B, H, W) uint8 -> (B, 3, size, size) in the stage's precision, normalised as
    :func:`benchmark.data.transforms.to_input` does; sample ``i`` is augmented under ``seeds[i]``."""
    out = []
    for image, seed in zip(images_uint8, seeds):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x = pipeline(image.unsqueeze(0).expand(3, -1, -1))  # 3 grey channels, as the official loaders read them
        x = x.to(torch.get_default_dtype()).div_(255.0).unsqueeze(0)
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out.append((x - MEAN) / STD)
    return torch.cat(out)
