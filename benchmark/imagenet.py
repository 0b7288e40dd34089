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

from benchmark.core.errors import run_cli
from benchmark.pretraining.imagenet import WEIGHT_ENUMS  # light: torch and torchvision load on use


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.imagenet",
                                     description="put torchvision's ImageNet weights into the local torch hub cache")
    parser.add_argument("--arch", default="resnet50", choices=sorted(WEIGHT_ENUMS), help="ResNet architecture (default: resnet50)")
    parser.add_argument("--weights", default="IMAGENET1K_V1", help="torchvision weight version (IMAGENET1K_V1, _V2)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.imagenet import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
