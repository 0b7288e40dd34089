"""``python -m benchmark.stage_deps [--check]``: each DVC stage's code dependencies, derived from its imports.

The work, and why it is done this way: :mod:`benchmark.tools.code_deps`.
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
