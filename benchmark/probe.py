"""``python -m benchmark.probe``: linear probe on cached frozen features (paper protocol).

The work, and why it is done this way: :mod:`benchmark.evaluation.probe`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli
from benchmark.data.datasets import datasets_for


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.probe", description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True, help="the method name the results are recorded under")
    parser.add_argument("--datasets", required=True, nargs="+", choices=datasets_for("classification"),
                        help="datasets to probe, in one process")
    parser.add_argument("--fractions", nargs="+", type=int, choices=(1, 10, 100),
                        help="training fractions in %% (default: the profile's)")
    parser.add_argument("--features", required=True, type=Path,
                        help="folder of feature folders written by benchmark.features (FEATURES/<dataset>)")
    parser.add_argument("--stores", required=True, type=Path, help="folder of stores (STORES/<dataset>)")
    parser.add_argument("--splits", required=True, type=Path, help="folder of split manifests (SPLITS/<dataset>/<protocol>.csv)")
    parser.add_argument("--protocol", default="mgca", help="split manifest to use (default: mgca)")
    parser.add_argument("--encoder-meta", type=Path, default=None, help="pretrain meta.json (for the LM record; the features must come from the "
                        "encoder.safetensors beside it)")
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.evaluation.probe import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
