"""The datasets each evaluation stage takes and the arguments the frozen-encoder heads share.

Light on purpose (argparse only): the commands build their parsers from it, so that
``python -m benchmark.<stage> --help`` answers before torch or pandas is imported. Which
datasets each stage offers follows from the dataset specs (:func:`benchmark.data.datasets.datasets_for`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.core.config import add_profile_args
from benchmark.data.datasets import datasets_for


def head_parser(prog: str, description: str, task: str) -> argparse.ArgumentParser:
    """The arguments every frozen-encoder head stage takes (segmentation, detection)."""
    datasets = datasets_for(task)
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--method", required=True, help="the method name the results are recorded under")
    parser.add_argument("--datasets", required=True, nargs="+", choices=datasets, help="datasets to run, in one process")
    parser.add_argument("--fractions", nargs="+", type=int, choices=(1, 10, 100),
                        help="training fractions in %% (default: the profile's)")
    parser.add_argument("--encoder", required=True, type=Path, help="pre-trained model folder (encoder.safetensors)")
    parser.add_argument("--stores", required=True, type=Path, help="folder of stores, one per dataset (STORES/<dataset>)")
    parser.add_argument("--splits", required=True, type=Path,
                        help="folder of split manifests (SPLITS/<dataset>/<protocol>.csv)")
    parser.add_argument("--protocol", default="mgca", help="split manifest to use (default: mgca)")
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    return parser
