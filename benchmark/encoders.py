"""The one image-encoder interface every method exposes and every head consumes.

:class:`ImageEncoder` wraps a torchvision ResNet trunk and returns the pooled feature
plus the C2-C5 maps (strides 4, 8, 16, 32): the linear probe reads ``pooled``, the
U-Net and detection heads read ``maps``. Weights go to safetensors with the
architecture recorded in the metadata, so any head can rebuild the encoder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file, save_file
from torch import nn

from benchmark.errors import DataError

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")
ENCODER_FILE = "encoder.safetensors"


@dataclass
class EncoderOutput:
    pooled: torch.Tensor  # (B, D)
    maps: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # C2..C5


class ImageEncoder(nn.Module):
    """ResNet trunk: ``forward(x) -> EncoderOutput``; ``x`` is (B, 3, H, W) normalised."""

    def __init__(self, arch: str = "resnet50") -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown encoder arch {arch!r} (have: {', '.join(ARCHS)})")
        trunk = getattr(torchvision.models, arch)(weights=None)
        self.arch = arch
        self.stem = nn.Sequential(trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4
        self.feature_dim = trunk.fc.in_features
        self.map_channels = tuple(
            getattr(self, f"layer{i}")[-1].conv3.out_channels if hasattr(getattr(self, f"layer{i}")[-1], "conv3")
            else getattr(self, f"layer{i}")[-1].conv2.out_channels for i in range(1, 5)
        )

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        c2 = self.layer1(self.stem(x))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return EncoderOutput(pooled=torch.flatten(nn.functional.adaptive_avg_pool2d(c5, 1), 1), maps=(c2, c3, c4, c5))


def save_encoder(encoder: ImageEncoder, folder: str | Path, meta: dict) -> None:
    """Write ``encoder.safetensors`` (metadata: arch and provenance) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
    save_file(tensors, str(folder / ENCODER_FILE), metadata={"arch": encoder.arch, "meta": json.dumps(meta, sort_keys=True)})


def load_encoder(folder: str | Path) -> tuple[ImageEncoder, dict]:
    """Rebuild the encoder saved by :func:`save_encoder`; strict key match."""
    path = Path(folder) / ENCODER_FILE
    if not path.is_file():
        raise DataError(path, "encoder checkpoint not found")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
        state = load_file(str(path))
    except Exception as err:
        raise DataError(path, f"unreadable safetensors checkpoint ({err})") from None
    if "arch" not in header:
        raise DataError(path, "checkpoint metadata has no 'arch'")
    encoder = ImageEncoder(header["arch"])
    result = encoder.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise DataError(path, f"keys do not match {header['arch']}: missing {result.missing_keys[:5]}, "
                        f"unexpected {result.unexpected_keys[:5]}")
    return encoder, json.loads(header.get("meta", "{}"))
