"""``python -m benchmark.features``: pooled features of a frozen encoder, extracted once.

The linear probe trains only a linear layer on a frozen encoder, so the encoder's
output for every image is computed once (eval mode, no augmentation, no gradients)
and cached as ``OUT/<dataset>/features.npy`` aligned with the store manifest, beside
``features.json``: schema version, shape, dtype and SHA-256 of the array, and what it
was made from (the encoder's SHA-256 and metadata, the store's manifest SHA-256, the
input size). :func:`load_features` checks all of it before the probe uses a single
number: the array is small (N x D float32), so its full SHA-256 is checked on every load.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.features", description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, type=Path, help="folder with encoder.safetensors")
    parser.add_argument("--stores", required=True, type=Path, help="folder of stores (STORES/<dataset>)")
    parser.add_argument("--datasets", required=True, nargs="+", help="stores to encode, in one process")
    parser.add_argument("--out", required=True, type=Path, help="features folder (OUT/<dataset>)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.evaluation.features import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
