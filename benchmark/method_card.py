"""``python -m benchmark.method_card --method NAME --out data/methods/NAME.json``: what one method's pre-training depends on.

The work, and why it is done this way: :mod:`benchmark.pretraining.method_card`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.method_card", description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True, help="a method of benchmark/configs/methods.yaml")
    parser.add_argument("--out", required=True, type=Path, help="the card to write (JSON)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.method_card import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
