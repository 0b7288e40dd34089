"""``python -m benchmark.compare``: our results beside reference numbers, with tolerances.

The reference is a CSV with ``method, dataset, task, metric, fraction, value`` (in %, as
``benchmark/reference/published.csv``); an optional ``ours`` column names the variant of our
metric that the number was computed as: the published detection mAP is the reference code's
(images without a prediction or without a box skipped), so it is compared with our
``map_mgca_compat``, never with our all-image mAP. Our cells are the report's: mean over seeds, in %.
Every reference cell is compared; the command exits with 1 when a cell is outside its
tolerance or has no result (unless ``--allow-missing``), so CI can hold results to
committed golden numbers and a real-data run can be held to the paper's. A reference with
a ``protocol`` column is read for one protocol (``--protocol``, default mgca).

Golden numbers change only through ``--write-reference FILE``, which writes every cell of
the given results (mean over seeds, in %) for review as a diff, and compares nothing.
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
