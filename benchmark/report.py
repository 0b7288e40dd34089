"""``python -m benchmark.report``: the paper's tables and plots from the per-run result JSONs.

The work, and why it is done this way: :mod:`benchmark.reporting.report`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.report", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/runs"), help="folder of result JSONs (default: results/runs)")
    parser.add_argument("--out", type=Path, default=Path("results"),
                        help="folder for the leaderboard (.md, .tex, .csv), metrics.json and plots/ (default: results)")
    parser.add_argument("--docs", type=Path, default=None, metavar="FILE",
                        help="also write the tables as a dated page (e.g. docs/results.md): date, commit, machine")
    parser.add_argument("--run-note", default="", help="a line for --docs about the run (e.g. its wall time)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.reporting.report import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
