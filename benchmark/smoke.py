"""``python -m benchmark.smoke``: the ``smoke`` profile end to end, as CI runs it, against golden numbers.

The work, and why it is done this way: :mod:`benchmark.tools.smoke`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="scratch folder for the copy (reused if it exists)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write-golden", action="store_true", help="rewrite results/reference/smoke.csv from this run")
    mode.add_argument("--mutations", action="store_true",
                      help="plant each known defect in a copy of the run and report whether the comparison catches it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.tools.smoke import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
