"""``python -m benchmark.protocol``: write ``docs/protocol.md``, each method's official pre-training
recipe beside what the ``paper`` profile runs (``--check``: fail when the file lags the config).

The work: :mod:`benchmark.tools.protocol`.
"""

from __future__ import annotations

import argparse

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.protocol", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/protocol.md differs from what the config gives")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.tools.protocol import run

    return run(args.check)


if __name__ == "__main__":
    run_cli(main)
