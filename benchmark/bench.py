"""``python -m benchmark.bench``: what the harness's caches buy, measured side by side.

Every figure is a ratio of two (or three) variants timed in the same process, one after
the other in interleaved rounds (median of the rounds), on the same inputs, so that the
machine's speed and load cancel out:

1. pre-training step: M-FLAG with cached report embeddings vs. running the frozen LM on
   every step at the paper's 512 tokens (as the official code does) vs. the floor, an
   image-encoder-only step;
2. linear probe on cached features vs. a probe that runs the frozen backbone on every
   batch of every epoch (same batches and updates; the test AUCs must agree);
3. data loading from the preprocessed store (memory-mapped uint8, random crop, resize)
   vs. the pre-training step's own images/s;
4. segmentation and detection heads with the encoder's C2-C5 maps computed once vs.
   recomputed for every batch;
5. the default ``dvc repro``: wall time, no-op re-run and peak memory, from
   ``python -m benchmark.bench --repro`` (which runs the pipeline; tens of minutes),
   read from ``OUT/bench_repro.json``.

The data are small phantom RSNA and MIMIC stores written into a temporary folder (the
bench needs no prepared workspace); the encoder is the paper's ResNet-50 at 224 px with
random weights (speed does not depend on the weights). Writes ``OUT/bench.json`` and
``OUT/bench.md``. Not part of the test suite: it takes ~6 minutes on 2 idle cores (and
several times that on a loaded machine: many small parallel regions wait on descheduled
threads, so run it alone).
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
    parser.add_argument("--params", default="params.yaml", help="params file whose 'paper' profile gives the head settings")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.tools.bench import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
