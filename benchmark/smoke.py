"""``python -m benchmark.smoke``: the ``smoke`` profile end to end, as CI runs it, against golden numbers.

Copies the pipeline (``dvc.yaml``, ``params.yaml`` and the code) into a scratch folder,
switches it to the ``smoke`` profile with three methods (M-FLAG and the two controls, whose
negative one runs the random encoder: the DAG is the same for every method, and each stage
is a process), runs ``dvc repro`` there and compares the results with ``results/reference/smoke.csv``.

The smoke profile computes in float64 (:mod:`benchmark.core.numerics`), so its cells are the same
on every x86-64 CPU and thread count (measured: identical to 4 decimals under
``ATEN_CPU_CAPABILITY`` default / avx2 / avx512 and with 1 thread); the tolerance below is a
margin for BLAS builds we could not try, not a measured spread. Cells at their trivial
floor are reported as such and do not count as evidence (``--min-evidence``).

``--mutations`` plants known defects, one at a time, as literal edits of the scratch copy's
code (nothing of the repository changes), re-runs only the stages DVC finds affected, and
reports whether the golden comparison caught each one; the honest run must pass.

Golden numbers change only through ``--write-golden``, which rewrites that file from the
run for review as a diff; nothing else writes it.
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
