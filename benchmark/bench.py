"""``python -m benchmark.bench``: what the harness's caches buy, measured side by side.

The work, and why it is done this way: :mod:`benchmark.tools.bench`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results"), help="folder for bench.json and bench.md")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the command, figures mean nothing")
    parser.add_argument("--repro", type=Path, default=None, metavar="WORKSPACE",
                        help="instead: run `dvc repro` in WORKSPACE (a clone), time it and a no-op re-run, "
                             "write OUT/bench_repro.json")
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help="instead: the paper-scale rates on DEVICE (e.g. cuda): pre-training step with mixed "
                             "precision vs the encoder-only floor, live LM vs cached, input pipeline; writes "
                             "OUT/bench_gpu.json (with --quick: tiny sizes, also on cpu)")
    parser.add_argument("--estimate", action="store_true",
                        help="instead: the paper matrix's wall time from the rates in OUT/bench.json and OUT/bench_gpu.json "
                             "(published GPU figure until one is measured); writes OUT/paper_estimate.md")
    parser.add_argument("--table", action="store_true",
                        help="instead: rewrite OUT/bench.md from OUT/bench.json and the latest OUT/bench_repro.json, "
                             "measuring nothing (after a new --repro run)")
    parser.add_argument("--params", default="params.yaml", help="params file whose 'paper' profile gives the head settings")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.estimate:
        from benchmark.core.atomic import write_text
        from benchmark.tools.paper_estimate import estimate, to_markdown

        table = to_markdown(estimate(Path(args.params), args.out))
        write_text(args.out / "paper_estimate.md", table)
        print(table)
        return 0
    if args.device is not None:
        from benchmark.tools.bench_gpu import run_gpu

        run_gpu(args.out, args.device, args.quick)
        return 0
    from benchmark.tools.bench import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
