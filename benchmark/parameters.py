"""``python -m benchmark.parameters``: trainable vs. frozen parameters in the paper configuration.

The work, and why it is done this way: :mod:`benchmark.pretraining.parameter_counts`.
"""

from __future__ import annotations

import argparse

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.parameters", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.parameter_counts import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
