"""``python -m benchmark.embed``: frozen-LM embeddings of every pre-training report.

The work, and why it is done this way: :mod:`benchmark.pretraining.embed`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.embed", description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, type=Path, help="pre-training store whose reports are embedded (MIMIC-CXR)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the embeddings and lm.json")
    parser.add_argument("--cache", type=Path, default=Path("data/cache/text"),
                        help="cache of embedded report texts, reused across runs (default: data/cache/text)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.embed import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
