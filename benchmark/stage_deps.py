"""``python -m benchmark.stage_deps [--check]``: each DVC stage's code dependencies, derived from its imports.

A stage must re-run when any code it runs changes, and only then. Listing that code by
hand drifts (``features`` once missed ``encoders.py``, ``probe`` missed ``metrics.py``), so
the code entries of every stage's ``deps`` in ``dvc.yaml`` are generated here: the module
its command runs, every project module that module imports (top level and inside
functions, transitively, with the packages each import passes through), and the entries
the lazy registries load for the stage's item (a reader, a phantom writer). Data
dependencies (everything outside ``benchmark/``, ``mflag/``, ``baselines/``) are kept as
written. ``--check`` exits 1 when ``dvc.yaml`` differs from what would be written (a test
runs it); without it the file is rewritten in place, comments kept.

The method-card stage (:mod:`benchmark.method_card`) lists the plug-in folders whole; each
``pretrain@`` stage depends on its method's card instead, so an edit re-runs only the methods
it touches.
"""

from __future__ import annotations

import argparse

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.stage_deps", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml's code deps are not the generated ones")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.tools.code_deps import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
