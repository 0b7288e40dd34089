"""``python -m benchmark.parameters``: trainable vs. frozen parameters in the paper configuration.

M-FLAG's efficiency claim (the paper reports 78 % fewer trainable parameters) comes from
freezing the language model. This module counts, by building the modules (no weights
needed), what each side trains: M-FLAG trains ResNet-50 + ``proj_v`` + ``proj_t`` and keeps a
BERT-base-sized LM frozen; a method that fine-tunes its text encoder trains the same
image side plus the BERT-base encoder. The arithmetic is printed so it can be checked.
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
