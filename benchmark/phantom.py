"""``python -m benchmark.phantom --out DIR [--profile NAME]``: write phantom raw datasets.

The work, and why it is done this way: :mod:`benchmark.data.phantom.write`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.phantom", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output root; datasets go to OUT/<name>")
    parser.add_argument("--datasets", nargs="*", default=None, help="subset of datasets (default: the profile's)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.data.phantom.write import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
