"""``python -m benchmark.import_weights``: released checkpoints -> the shared encoder interface.

The work, and why it is done this way: :mod:`benchmark.pretraining.import_weights`.
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
