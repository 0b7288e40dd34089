"""The ``main`` of a frozen-encoder head stage (segmentation, detection), for either backend.

Parses the arguments every head takes, reads the profile section named after the task,
loads the encoder once, then runs every dataset x fraction x seed with the native head or
the configured OpenMMLab model, all results written into one folder that replaces
``--out`` at the end (:func:`benchmark.downstream.results_folder`). Kept apart from
:mod:`benchmark.downstream` so that the OpenMMLab runner can use the shared pieces without
an import cycle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from benchmark.downstream import FrozenEncoder, HeadRun, results_folder, write_unavailable
from benchmark.errors import DataError
from benchmark.features import unavailable_reason
from benchmark.numerics import configure


def run_head_stage(argv: list[str] | None, prog: str, description: str, datasets: tuple[str, ...], task: str,
                   head: str, metric: str, run_native: Callable[["HeadRun", Path], None]) -> int:
    """The ``main`` of a frozen-encoder head stage: parse, load the encoder, then run every
    dataset x fraction x seed with the native head (``run_native(run, out)``) or the configured
    OpenMMLab model, all results written into one folder that replaces ``--out`` at the end."""
    run = start_head_run(argv, prog, description, datasets, task, head, metric)
    if run is None:
        return 0
    out = run.args.out
    with results_folder(out, (run.args.encoder, run.args.stores, run.args.splits)) as tmp:
        run.args.out = tmp  # every result of this invocation, renamed into place together
        if run.backend == "openmmlab":
            from benchmark.openmmlab.run import run_openmmlab

            return run_openmmlab(run, task)
        run_native(run, out)
    return 0


def start_head_run(argv: list[str] | None, prog: str, description: str, datasets: tuple[str, ...], task: str,
                   head: str, metric: str) -> HeadRun | None:
    """Parse the arguments every frozen-encoder head takes, read the profile section named after
    the task, and load the encoder. Returns None after recording an "unavailable" result for
    every run when the encoder has no weights."""
    from benchmark.config import add_profile_args, load_profile

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--method", required=True)
    parser.add_argument("--datasets", required=True, nargs="+", choices=datasets)
    parser.add_argument("--fractions", nargs="+", type=int, choices=(1, 10, 100),
                        help="training fractions in %% (default: the profile's)")
    parser.add_argument("--encoder", required=True, type=Path, help="pre-trained model folder (encoder.safetensors)")
    parser.add_argument("--stores", required=True, type=Path, help="folder of stores, one per dataset (STORES/<dataset>)")
    parser.add_argument("--splits", required=True, type=Path,
                        help="folder of split manifests (SPLITS/<dataset>/<protocol>.csv)")
    parser.add_argument("--protocol", default="mgca", help="split manifest to use (default: mgca)")
    parser.add_argument("--out", required=True, type=Path, help="results folder")
    add_profile_args(parser)
    args = parser.parse_args(argv)
    profile = load_profile(args.params, args.profile)
    cfg = profile[{"segmentation": "segment", "detection": "detect"}[task]]
    args.fractions = args.fractions or [int(f) for f in cfg["fractions"]]
    backend = cfg.get("backend", "native")
    configure(profile, None if backend == "native" else "float32")  # OpenMMLab's models are float32
    if backend == "openmmlab":  # the head is the configured OpenMMLab model (see benchmark.openmmlab)
        from benchmark.openmmlab.run import head_name

        head = head_name(cfg["openmmlab"]["config"])
    elif backend != "native":
        raise DataError(args.params, f"{task}: unknown backend {backend!r} (have: native, openmmlab)")
    common = {"method": args.method, "task": task, "head": head, "metric": metric, "profile": profile,
              "protocol": args.protocol, "backend": backend}
    seeds = [int(s) for s in cfg["seeds"]]
    if record_if_unavailable(args, common, seeds):
        return None
    return HeadRun(args, profile, cfg, common, seeds, FrozenEncoder.load(args.encoder))


def record_if_unavailable(args, common: dict, seeds: list[int]) -> bool:
    """When the encoder has no weights (e.g. ImageNet offline), write that as the result of every run."""
    reason = unavailable_reason(args.encoder / "meta.json")
    if not reason:
        return False
    with results_folder(args.out, (args.encoder, args.stores, args.splits)) as tmp:
        write_unavailable(tmp, common, args.datasets, args.fractions, seeds, reason)
    return True


