"""``python -m benchmark.method_card --method NAME --out data/methods/NAME.json``: what one method's pre-training depends on.

``methods.yaml`` holds every method, ``params.yaml`` one pre-training section for all of them,
and ``mflag/`` and ``baselines/`` every plug-in: as DVC dependencies of each ``pretrain@``
stage, editing one method would re-run them all (days of GPU time on the paper profile).
This cheap stage resolves what *one* method uses -- its entry (with ``base:`` merged), its
plug-in, the profile's settings with its own ``method_options`` and ``method_overrides``,
the language-model settings if it reads text, and the SHA-256 of every source file its
plug-in imports -- into one JSON card that its ``pretrain@`` stage depends on instead. The
cards of the methods an edit does not touch come out byte-identical, so DVC leaves their
``pretrain@`` stages up to date.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.method_card", description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True, help="a method of benchmark/configs/methods.yaml")
    parser.add_argument("--out", required=True, type=Path, help="the card to write (JSON)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.method_card import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
