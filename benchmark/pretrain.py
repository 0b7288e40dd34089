"""``python -m benchmark.pretrain --method NAME``: the one training engine for every method.

Reads the pre-training store (images) and the reports (cached frozen-LM embeddings,
or tokens for methods whose LM trains), builds the method named in
``benchmark/configs/methods.yaml``, trains with AdamW and a warm-up + cosine schedule,
and writes ``OUT/encoder.safetensors`` (the shared encoder interface),
``OUT/model.safetensors`` (all of the method's modules), ``OUT/train_log.csv`` and
``OUT/meta.json`` (method, LM, data, trainable and frozen parameters; no timings, so the same
run gives the same bytes).
Methods that do not train (init baselines) save their seeded initial encoder.

Scale-out: the same command runs under ``torchrun --nproc_per_node N``. Each process
takes 1/N of every global batch (``DistributedSampler``, ``set_epoch`` each epoch),
batch-level terms (BatchNorm statistics, contrastive and orthogonality losses) are
computed over the global batch, and rank 0 writes. The result matches a one-process
run with the same global batch up to floating-point rounding.

State: every ``checkpoint_every`` steps the run saves a checkpoint to ``OUT.ckpt/``
(``benchmark.pretraining.checkpoint``); a run that finds a checkpoint of the same configuration
resumes from it and ends with the weights an uninterrupted run would have.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.core.errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark.pretrain", description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True, help="a method of benchmark/configs/methods.yaml")
    parser.add_argument("--store", required=True, type=Path, help="pre-training store (MIMIC-CXR)")
    parser.add_argument("--text", required=True, type=Path, help="folder written by benchmark.embed")
    parser.add_argument("--out", required=True, type=Path, help="model folder to write (encoder.safetensors, meta.json)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="checkpoint folder (default: OUT.ckpt)")
    add_profile_args(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from benchmark.pretraining.engine import run

    return run(args)


if __name__ == "__main__":
    run_cli(main)
