"""``python -m benchmark.roots``: point the pipeline at the real datasets (``paper`` profile).

The work, and why it is done this way: :mod:`benchmark.data.roots`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.roots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/raw/real"), help="folder of links (default data/raw/real)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.data.roots import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
