"""``python -m benchmark.code_cards --out data/code``: one card per command with the hashes of the code it runs.

The work, and why it is done this way: :mod:`benchmark.tools.code_deps`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.code_cards", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path,
                        help="the card folder to write (replaced as a whole; one <command>[@<dataset>].json per command)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.tools.code_deps import write_cards

    return write_cards(args)


if __name__ == "__main__":
    run_cli(main)
