"""``python -m benchmark.pretrain --method NAME``: the one training engine for every method.

The work, and why it is done this way: :mod:`benchmark.pretraining.engine`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.pretrain", description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True, help="a method of benchmark/configs/methods.yaml")
    parser.add_argument("--store", required=True, type=Path, help="pre-training store (MIMIC-CXR)")
    parser.add_argument("--text", required=True, type=Path, help="folder written by benchmark.embed")
    parser.add_argument("--out", required=True, type=Path, help="model folder to write (encoder.safetensors, meta.json)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="checkpoint folder (default: OUT.ckpt)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.engine import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
