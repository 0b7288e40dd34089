"""``python -m benchmark.evaluate --checkpoint FILE --name "My encoder"``: your encoder through every evaluation.

The work, and why it is done this way: :mod:`benchmark.evaluation.external`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, type=Path, help="the encoder's weights (.pth, .ckpt, .safetensors)")
    parser.add_argument("--name", required=True, help="the title of your rows in the tables")
    parser.add_argument("--arch", default="auto", help="resnet18/34/50/101, or auto: the one the checkpoint's keys fit")
    parser.add_argument("--stores", type=Path, default=Path("data/store"), help="folder of prepared stores")
    parser.add_argument("--splits", type=Path, default=Path("data/splits"), help="folder of split manifests")
    parser.add_argument("--protocol", default="mgca", help="split manifests to use (default: mgca)")
    parser.add_argument("--results", type=Path, default=Path("results/runs"),
                        help="the pipeline's results, shown beside yours (skipped when absent)")
    parser.add_argument("--work", type=Path, default=Path("runs/evaluate"), help="where everything of this run goes")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.evaluation.external import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
