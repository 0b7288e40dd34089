"""``python -m benchmark.segment``: U-Net on a frozen pre-trained encoder (MGCA protocol).

The work, and why it is done this way: :mod:`benchmark.evaluation.segment`.
"""

from __future__ import annotations

import argparse

from benchmark.core.errors import run_cli
from benchmark.evaluation.stage_args import head_parser


def build_parser() -> argparse.ArgumentParser:
    return head_parser("python -m benchmark.segment", __doc__.splitlines()[0], "segmentation")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.evaluation.segment import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
