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
from pathlib import Path

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.import_weights", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="the encoder's weights (.pth, .ckpt, .safetensors)")
    parser.add_argument("--arch", default="auto", help="resnet18/34/50/101, or auto: the one the checkpoint's keys fit")
    parser.add_argument("--method", required=True, help="name the imported encoder is reported under")
    parser.add_argument("--out", required=True, type=Path, help="model folder to write (encoder.safetensors, meta.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.import_weights import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
