"""``python -m benchmark.features``: pooled features of a frozen encoder, extracted once.

The work, and why it is done this way: :mod:`benchmark.evaluation.features`.
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
