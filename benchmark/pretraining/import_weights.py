"""``python -m benchmark.import_weights``: released checkpoints -> the shared encoder interface.

One key-mapping table (:data:`LAYOUTS`) says where each release keeps its ResNet trunk;
the trunk's own names (torchvision's ``conv1``/``bn1``/``layerN`` or an
``nn.Sequential`` of its children, ``0``/``1``/``4``-``7``) are mapped to
:class:`~benchmark.pretraining.encoders.ImageEncoder`. Checkpoints are read with
``torch.load(weights_only=True)`` (or safetensors), so nothing unpickles arbitrary
objects. A checkpoint whose keys fit no layout fails with the keys that did not match.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from benchmark.core.atomic import atomic_dir
from benchmark.core.errors import DataError
from benchmark.data.store import sha256_file
from benchmark.pretraining.encoders import ImageEncoder, save_encoder


@dataclass(frozen=True)
class Layout:
    """Where a release keeps the image trunk: inside ``container`` (None: top level), under ``prefix``."""

    name: str
    prefix: str
    container: str | None = None


LAYOUTS: tuple[Layout, ...] = (
    # M-FLAG *_encoder.pth / *_total.pth (official), and BenchX's M-FLAG_total.pth / M-FLAG.pth
    Layout("mflag-official", "encoder."),
    Layout("mflag-ddp", "module.encoder."),  # the same saved from a DistributedDataParallel wrapper
    # MGCA Lightning .ckpt (official), and BenchX's MGCA_ResNet.ckpt / MGCA-resnet50.ckpt
    Layout("mgca-lightning", "img_encoder_q.model.", "state_dict"),
    # GLoRIA Lightning .ckpt (official), and BenchX's GLoRIA.ckpt
    Layout("gloria-lightning", "gloria.img_encoder.model.", "state_dict"),
    # BenchX's ConVIRT.pth (ViLMedic format: the model's state dict under "model")
    Layout("benchx-convirt", "visual.model.", "model"),
    Layout("plain-resnet", ""),  # a torchvision ResNet state dict, or this project's encoder.safetensors
)
# first component of a trunk key -> ImageEncoder module
_TRUNK_NAMES = {"conv1": "stem.0", "bn1": "stem.1", "layer1": "layer1", "layer2": "layer2", "layer3": "layer3",
                "layer4": "layer4", "stem": "stem"}
_SEQUENTIAL_NAMES = {"0": "stem.0", "1": "stem.1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
_IGNORED = re.compile(r"^(fc|8)\.")  # classifier heads are not part of the encoder


def read_state(path: Path) -> dict:
    """Tensors of a checkpoint without unpickling arbitrary objects."""
    if not path.is_file():
        raise DataError(path, "checkpoint not found")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as err:
            raise DataError(path, f"unreadable safetensors file ({err})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(path, f"not loadable with weights_only=True ({first[:200]})") from None


def _map_trunk_key(key: str) -> str | None:
    head, _, rest = key.partition(".")
    for table in (_TRUNK_NAMES, _SEQUENTIAL_NAMES):
        if head in table:
            return f"{table[head]}.{rest}"
    return None


def map_layout(state: dict, layout: Layout) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Encoder state dict under ``layout``, and the trunk keys that found no home."""
    source = state.get(layout.container) if layout.container else state
    if not isinstance(source, dict):
        return {}, []
    mapped, unmatched = {}, []
    for key, value in source.items():
        if not isinstance(key, str) or not key.startswith(layout.prefix) or not torch.is_tensor(value):
            continue
        inner = key[len(layout.prefix):]
        if _IGNORED.match(inner):
            continue
        target = _map_trunk_key(inner)
        if target is None:
            unmatched.append(key)
        else:
            mapped[target] = value
    return mapped, unmatched


def detect_arch(path: str | Path) -> str:
    """The architecture whose keys and shapes a checkpoint fits exactly (any known layout), or a
    DataError saying which were tried."""
    from benchmark.pretraining.encoders import ARCHS

    path = Path(path)
    state = read_state(path)
    for arch in ARCHS:
        try:
            import_encoder(path, arch, state)
        except DataError:
            continue
        return arch
    raise DataError(path, f"fits none of {', '.join(ARCHS)} in any known layout "
                    f"({', '.join(lay.name for lay in LAYOUTS)}); give --arch to see which keys differ")


def import_encoder(path: str | Path, arch: str, state: dict | None = None) -> tuple[ImageEncoder, dict]:
    """Load the trunk of a released checkpoint into a fresh :class:`ImageEncoder`."""
    path = Path(path)
    state = read_state(path) if state is None else state
    encoder = ImageEncoder(arch)
    wanted = encoder.state_dict()
    for layout in LAYOUTS:
        mapped, unmatched = map_layout(state, layout)
        if set(mapped) == set(wanted) and not unmatched:
            shapes = [k for k in wanted if mapped[k].shape != wanted[k].shape]
            if shapes:
                raise DataError(path, f"layout {layout.name}: shapes differ from {arch} at {', '.join(shapes[:5])}")
            encoder.load_state_dict(mapped, strict=True)
            return encoder, {"layout": layout.name, "source_sha256": sha256_file(path), "arch": arch}
    keys = list((state.get("state_dict") if isinstance(state.get("state_dict"), dict) else state).keys())
    raise DataError(path, f"unknown checkpoint layout for {arch} ({len(keys)} keys, "
                    f"none of {', '.join(lay.name for lay in LAYOUTS)} fits); unmatched keys: {', '.join(map(str, keys[:8]))}"
                    + (" ..." if len(keys) > 8 else ""))


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.import_weights`` does with its parsed arguments."""
    arch = detect_arch(args.checkpoint) if args.arch == "auto" else args.arch
    encoder, info = import_encoder(args.checkpoint, arch)
    meta = {"method": args.method, "arch": arch, "imported_from": args.checkpoint.name, **info}
    with atomic_dir(args.out) as tmp:
        save_encoder(encoder, tmp, meta)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(f"import_weights: {args.checkpoint} ({info['layout']}) -> {args.out}")
    return 0
