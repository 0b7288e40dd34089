"""``python -m benchmark.report``: the paper's tables and plots from the per-run result JSONs.

Writes ``leaderboard.md`` / ``.tex`` / ``.csv`` (one row per cell), ``metrics.json`` (for
``dvc metrics show``) and ``plots/`` (PNG, for ``dvc plots show``):

1. linear-probe classification (CheXpert AUC, RSNA AUC, COVIDx ACC x 1 / 10 / 100 %);
2. segmentation Dice (SIIM, RSNA) and detection mAP (RSNA, Object-CXR), plus the named
   metric variants;
3. trainable / frozen parameters of each method's pre-training run;
4. latent-space geometry of each encoder (effective rank, top-1 % variance share) with a
   plot of the singular-value spectra;
5. metric vs. training fraction per task, one line per method.

Rows are methods, columns are metric x training fraction, cells are mean ± std over
seeds (in %). Results from different data kinds, profiles, language models or
backends are never mixed in one table: each combination gets its own table with a
header that says what produced it. The published numbers on the real datasets are
printed beside, labelled as such, so phantom numbers cannot be mistaken for them.
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
