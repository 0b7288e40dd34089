"""``python -m benchmark.compare``: our results beside reference numbers, with tolerances.

The work, and why it is done this way: :mod:`benchmark.reporting.compare`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.compare", description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="CSV of reference numbers (in %%)")
    parser.add_argument("--write-reference", type=Path, metavar="FILE",
                        help="write the results' cells as a golden reference instead of comparing")
    parser.add_argument("--protocol", default="mgca", help="reference rows of this protocol (default: mgca)")
    parser.add_argument("--results", type=Path, default=Path("results/runs"), help="folder of result JSONs (default: results/runs)")
    parser.add_argument("--profile", default=None, help="compare only results of this profile")
    parser.add_argument("--tolerance", type=float, default=0.5, help="allowed |ours - reference| in points (default 0.5)")
    parser.add_argument("--metric-tolerance", nargs="*", default=[], metavar="METRIC=POINTS",
                        help="per-metric tolerance, e.g. dice=2 map=1")
    parser.add_argument("--allow-missing", action="store_true", help="reference cells without a result do not fail")
    parser.add_argument("--controls", action="store_true",
                        help="also fail when a control fails (the positive control at its floor, the negative control "
                             "clearly above it): for profiles whose test sets are large enough to tell")
    parser.add_argument("--min-evidence", type=int, default=0, metavar="N",
                        help="fail unless at least N cells match the reference while clear of their floor (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.reporting.compare import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
