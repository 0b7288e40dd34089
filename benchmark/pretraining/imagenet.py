"""torchvision's ImageNet weights from the local torch hub cache, never downloaded at run time.

The official code of every method starts its ResNet-50 from ImageNet weights (M-FLAG and GLoRIA
torchvision's V1 file, MGCA's current code V2). :func:`imagenet_file` finds the file of one
version in ``torch.hub.get_dir()/checkpoints``; :func:`missing_message` says which file to put
where; ``python -m benchmark.imagenet --arch resnet50 --weights IMAGENET1K_V1`` puts it there on
a machine with internet, checking the SHA-256 prefix torchvision publishes in the file name.
Every run records the file, its version and its SHA-256.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.errors import DataError

#: torchvision's weight enum of each architecture
WEIGHT_ENUMS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights",
                "resnet101": "ResNet101_Weights"}


def cache_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def weight_url(arch: str, version: str) -> str:
    """The URL torchvision publishes for ``arch``'s ImageNet weights ``version`` (e.g. IMAGENET1K_V1)."""
    import torchvision

    if arch not in WEIGHT_ENUMS:
        raise DataError(None, f"no ImageNet weights for architecture {arch!r} (have: {', '.join(WEIGHT_ENUMS)})")
    enum = getattr(torchvision.models, WEIGHT_ENUMS[arch])
    if version not in enum.__members__:
        raise DataError(None, f"{arch} has no ImageNet weights {version!r} (have: {', '.join(enum.__members__)})")
    return enum[version].url


def published_versions(arch: str) -> list[str]:
    """The ImageNet versions torchvision publishes for ``arch`` (without the DEFAULT alias)."""
    import torchvision

    if arch not in WEIGHT_ENUMS:
        raise DataError(None, f"no ImageNet weights for architecture {arch!r} (have: {', '.join(WEIGHT_ENUMS)})")
    return [v for v in getattr(torchvision.models, WEIGHT_ENUMS[arch]).__members__ if v != "DEFAULT"]


def imagenet_file(arch: str, version: str) -> Path:
    """Where the weights of ``arch`` / ``version`` are expected in the torch hub cache."""
    return cache_dir() / Path(weight_url(arch, version)).name


def missing_message(arch: str, version: str) -> str:
    path = imagenet_file(arch, version)
    return (f"ImageNet weights {version} for {arch} are not in the torch hub cache: put {path.name} into {path.parent} "
            f"(on a machine with internet: python -m benchmark.imagenet --arch {arch} --weights {version})")


def load_imagenet(arch: str, version: str):
    """(encoder with the weights, record: file, version, SHA-256); DataError when the file is absent
    or is not those weights (its SHA-256 must start with the prefix in its name)."""
    from benchmark.data.store import sha256_file
    from benchmark.pretraining.import_weights import import_encoder

    path = imagenet_file(arch, version)
    if not path.is_file():
        raise DataError(path, missing_message(arch, version))
    digest = sha256_file(path)
    prefix = path.stem.rsplit("-", 1)[-1]
    if not digest.startswith(prefix):
        raise DataError(path, f"SHA-256 {digest[:12]}... does not start with {prefix}, the hash torchvision publishes "
                        "in the file name: a damaged or different file")
    encoder, _ = import_encoder(path, arch)
    return encoder, {"kind": "imagenet", "weights": version, "file": path.name, "sha256": digest}


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.imagenet`` does with its parsed arguments."""
    import torch

    path = imagenet_file(args.arch, args.weights)
    if path.is_file():
        print(f"imagenet: {path} is already there")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = path.stem.rsplit("-", 1)[-1]
        try:
            torch.hub.download_url_to_file(weight_url(args.arch, args.weights), str(path), hash_prefix=prefix)
        except Exception as err:  # no network, a proxy, a wrong hash: say so in one line
            raise DataError(path, f"could not download {args.weights} weights for {args.arch}: {err}") from None
    _, record = load_imagenet(args.arch, args.weights)
    print(f"imagenet: {record['file']} ({record['weights']}) sha256 {record['sha256']} in {path.parent}")
    return 0
