"""torchvision's ImageNet weights from the local torch hub cache, never downloaded at run time.

The work, and why it is done this way: :mod:`benchmark.pretraining.imagenet`.
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
