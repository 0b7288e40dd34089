"""The run of a frozen-encoder head stage (segmentation, detection), for either backend.

Takes the arguments every head parses (:func:`benchmark.evaluation.stage_args.head_parser`), reads the profile section named after the task,
loads the encoder once, then runs every dataset x fraction x seed with the native head or
the configured OpenMMLab model, all results written into one folder that replaces
``--out`` at the end (:func:`benchmark.evaluation.downstream.results_folder`). Kept apart from
:mod:`benchmark.evaluation.downstream` so that the OpenMMLab runner can use the shared pieces without
an import cycle.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from benchmark.core.errors import DataError
from benchmark.core.numerics import configure
from benchmark.evaluation.downstream import FrozenEncoder, HeadRun, results_folder, write_unavailable
from benchmark.evaluation.features import unavailable_reason


def run_head_stage(args: argparse.Namespace, task: str, head: str, metric: str,
                   run_native: Callable[["HeadRun", Path], None]) -> int:
    """What a frozen-encoder head stage does with its parsed arguments: load the encoder, then run
    every dataset x fraction x seed with the native head (``run_native(run, out)``) or the configured
    OpenMMLab model, all results written into one folder that replaces ``--out`` at the end."""
    run = start_head_run(args, task, head, metric)
    if run is None:
        return 0
    out = run.args.out
    with results_folder(out, (run.args.encoder, run.args.stores, run.args.splits)) as tmp:
        run.args.out = tmp  # every result of this invocation, renamed into place together
        if run.backend == "openmmlab":
            from benchmark.evaluation.openmmlab.run import run_openmmlab

            return run_openmmlab(run, task)
        run_native(run, out)
    return 0


def start_head_run(args: argparse.Namespace, task: str, head: str, metric: str) -> HeadRun | None:
    """Read the profile section named after the task and load the encoder. Returns None after
    recording an "unavailable" result for every run when the encoder has no weights."""
    from benchmark.core.config import load_profile

    profile = load_profile(args.params, args.profile)
    cfg = profile[{"segmentation": "segment", "detection": "detect"}[task]]
    args.fractions = args.fractions or [int(f) for f in cfg["fractions"]]
    backend = cfg.get("backend", "native")
    configure(profile, None if backend == "native" else "float32")  # OpenMMLab's models are float32
    if backend == "openmmlab":  # the head is the configured OpenMMLab model (see benchmark.evaluation.openmmlab)
        if cfg.get("encoder_bn", "eval") != "eval":
            raise DataError(args.params, f"{task}: encoder_bn {cfg['encoder_bn']!r} is for the native heads; "
                            "the OpenMMLab backend freezes the encoder in eval mode")
        from benchmark.evaluation.openmmlab.run import head_name

        head = head_name(cfg["openmmlab"]["config"])
    elif backend != "native":
        raise DataError(args.params, f"{task}: unknown backend {backend!r} (have: native, openmmlab)")
    common = {"method": args.method, "task": task, "head": head, "metric": metric, "profile": profile,
              "protocol": args.protocol, "backend": backend}
    seeds = [int(s) for s in cfg["seeds"]]
    if record_if_unavailable(args, common, seeds):
        return None
    import torch

    # the native heads run where the encoder runs: a GPU when there is one (as the other stages)
    device = torch.device("cuda" if backend == "native" and torch.cuda.is_available() else "cpu")
    return HeadRun(args, profile, cfg, common, seeds, FrozenEncoder.load(args.encoder, str(cfg.get("encoder_bn", "eval")), device))


def record_if_unavailable(args, common: dict, seeds: list[int]) -> bool:
    """When the encoder has no weights (e.g. ImageNet offline), write that as the result of every run."""
    reason = unavailable_reason(args.encoder / "meta.json")
    if not reason:
        return False
    with results_folder(args.out, (args.encoder, args.stores, args.splits)) as tmp:
        write_unavailable(tmp, common, args.datasets, args.fractions, seeds, reason)
    return True


