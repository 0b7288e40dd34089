"""The one image-encoder interface every method exposes and every head consumes.

:class:`ImageEncoder` wraps a torchvision ResNet trunk and returns the pooled feature
plus the C2-C5 maps (strides 4, 8, 16, 32): the linear probe reads ``pooled``, the
U-Net and detection heads read ``maps``. Weights go to safetensors with the
architecture recorded in the metadata, so any head can rebuild the encoder.

The metadata also holds a schema version and the SHA-256 of the tensors (names, dtypes,
shapes and bytes, in name order); :func:`load_encoder` checks both after reading, so a
truncated, edited or older file is rejected with a DataError naming it instead of being
loaded (an encoder is read once per stage, so the hash costs well under a second).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file, save_file
from torch import nn

from benchmark.core.atomic import atomic_path
from benchmark.core.errors import DataError, first_line
from benchmark.pretraining.checkpoint import check_fits

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101")
ENCODER_FILE = "encoder.safetensors"
ENCODER_SCHEMA = 2  # 2: the description is one JSON metadata entry (same weights, same bytes)


@dataclass
class EncoderOutput:
    pooled: torch.Tensor  # (B, D)
    maps: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # C2..C5


class ImageEncoder(nn.Module):
    """ResNet trunk: ``forward(x) -> EncoderOutput``; ``x`` is (B, 3, H, W) normalised.

    ``upsample``: MGCA's and GLoRIA's ResNet first resizes every input to 299 x 299 (bilinear,
    corners aligned: MGCA ``mgca/models/backbones/encoder.py`` resnet_forward); the encoder file
    records it, so the probe's features see what pre-training saw. The heads' maps never use it
    (MGCA's U-Net and detector take the plain ResNet)."""

    def __init__(self, arch: str = "resnet50", upsample: int | None = None) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown encoder arch {arch!r} (have: {', '.join(ARCHS)})")
        trunk = getattr(torchvision.models, arch)(weights=None)
        self.arch = arch
        self.upsample = upsample
        self.stem = nn.Sequential(trunk.conv1, trunk.bn1, trunk.relu, trunk.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4
        self.feature_dim = trunk.fc.in_features
        self.map_channels = tuple(
            getattr(self, f"layer{i}")[-1].conv3.out_channels if hasattr(getattr(self, f"layer{i}")[-1], "conv3")
            else getattr(self, f"layer{i}")[-1].conv2.out_channels for i in range(1, 5)
        )

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        if self.upsample:
            x = nn.functional.interpolate(x, size=(self.upsample, self.upsample), mode="bilinear", align_corners=True)
        c2 = self.layer1(self.stem(x))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return EncoderOutput(pooled=torch.flatten(nn.functional.adaptive_avg_pool2d(c5, 1), 1), maps=(c2, c3, c4, c5))


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().contiguous().cpu()
        digest.update(f"{name}\x00{tensor.dtype}\x00{list(tensor.shape)}\x00".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_encoder(encoder: ImageEncoder, folder: str | Path, meta: dict) -> None:
    """Write ``encoder.safetensors`` (metadata: arch, provenance, schema, tensor SHA-256) into
    ``folder``, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
    # one metadata entry: safetensors writes a metadata map in hash order, which differs from process
    # to process, and the same weights must give the same bytes (DVC re-runs what depends on them)
    header = {"arch": encoder.arch, "meta": meta, "schema": ENCODER_SCHEMA, "tensors_sha256": tensors_sha256(tensors)}
    if encoder.upsample:  # only when set: encoders without it keep their bytes
        header["upsample"] = int(encoder.upsample)
    with atomic_path(folder / ENCODER_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"medvlp_encoder": json.dumps(header, sort_keys=True)})


def load_encoder(folder: str | Path) -> tuple[ImageEncoder, dict]:
    """Rebuild the encoder saved by :func:`save_encoder`: schema, tensor SHA-256 and a strict
    key and shape match are checked; any failure is a DataError naming the file."""
    path = Path(folder) / ENCODER_FILE
    if not path.is_file():
        raise DataError(path, "encoder checkpoint not found")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = fh.metadata() or {}
        state = load_file(str(path))
    except Exception as err:
        raise DataError(path, f"unreadable safetensors checkpoint ({first_line(err)})") from None
    try:
        header = json.loads(raw["medvlp_encoder"]) if "medvlp_encoder" in raw else {"schema": raw.get("schema")}
    except json.JSONDecodeError as err:
        raise DataError(path, f"unreadable encoder description in the checkpoint metadata ({err})") from None
    if header.get("schema") != ENCODER_SCHEMA:
        raise DataError(path, f"encoder schema {header.get('schema')!r}, expected '{ENCODER_SCHEMA}' (written by another "
                        "version); pre-train or import it again")
    if header.get("tensors_sha256") != tensors_sha256(state):
        raise DataError(path, "encoder weights corrupt (tensor SHA-256 differs from the one recorded in the file)")
    if header.get("arch") not in ARCHS:
        raise DataError(path, f"checkpoint metadata names no known arch ({header.get('arch')!r})")
    meta = header.get("meta") or {}
    encoder = ImageEncoder(header["arch"], header.get("upsample"))
    check_fits(path, encoder, state, header["arch"])
    encoder.load_state_dict(state, strict=True)
    return encoder, meta
