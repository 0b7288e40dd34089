"""``python -m benchmark.prepare --dataset NAME --root RAW --out STORE``: raw layout -> store."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli
from benchmark.data.datasets import READERS  # light: a reader loads on use


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.prepare", description=__doc__)
    parser.add_argument("--dataset", required=True, choices=sorted(READERS), help="the dataset, i.e. its reader")
    parser.add_argument("--root", required=True, type=Path, help="dataset root in its raw layout")
    parser.add_argument("--out", required=True, type=Path, help="store folder to write")
    parser.add_argument("--size", type=int, default=None, help="image size (default: profile store.image_size)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes decoding images (default: the cores available); the store is the same for any number")
    parser.add_argument("--decode", choices=("full", "reduced"), default=None,
                        help="full: decode every image at full resolution; reduced: JPEGs at 1/2, 1/4 or 1/8 "
                             "of a side where the store's size allows (default: profile store.decode)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.data.prepare import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
