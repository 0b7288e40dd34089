"""``python -m benchmark.phantom --out DIR [--profile NAME]``: write phantom raw datasets.

Each dataset goes to ``DIR/<name>`` in its real on-disk layout. Output is built in a
temporary folder and renamed into place, so an interrupted run leaves nothing that
looks complete. The same profile and seed give byte-identical label files and images.
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
