"""``python -m benchmark.evaluate --checkpoint FILE --name "My encoder"``: your encoder through every evaluation.

One command instead of six: the checkpoint is imported through the key-mapping table of
:mod:`benchmark.pretraining.import_weights` (its architecture detected from its keys unless ``--arch`` is
given, and said), then features, linear probe, segmentation and detection run on the active
profile's prepared stores and split manifests (``dvc repro`` makes them), exactly as the
pipeline runs them for every method. Everything goes to ``--work/<slug>/`` (model, features,
one JSON per run, and a ``leaderboard.md`` that puts your encoder beside the methods of
``--results``); nothing of the pipeline's own outputs is written. The rows of your encoder are
printed at the end. To track it with DVC as a method like any other, use a ``pretrained:``
entry in ``benchmark/configs/methods.yaml`` instead (README, "Evaluate your encoder").
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from benchmark.core.errors import DataError
from benchmark.data.datasets import datasets_for


def slug_of(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not slug:
        raise DataError(None, f"--name {name!r} has no letter or digit to name the results by")
    return slug


def check_prepared(stores: Path, splits: Path, protocol: str) -> None:
    """The stores and manifests the evaluations read must exist: say which command makes them."""
    for dataset in sorted({*datasets_for("classification"), *datasets_for("segmentation"), *datasets_for("detection")}):
        if not (stores / dataset / "store.json").is_file():
            raise DataError(stores / dataset, f"no prepared store; run `dvc repro prepare@{dataset}` first")
        if not (splits / dataset / f"{protocol}.csv").is_file():
            raise DataError(splits / dataset / f"{protocol}.csv", "no split manifest; run `dvc repro splits` first")


def import_checkpoint(checkpoint: Path, arch: str, slug: str, name: str, profile: dict, out: Path) -> dict:
    """The checkpoint as a model folder the stages read (encoder.safetensors + meta.json)."""
    from benchmark.core.atomic import atomic_dir
    from benchmark.pretraining.encoders import save_encoder
    from benchmark.pretraining.import_weights import detect_arch, import_encoder

    if not checkpoint.is_file():
        raise DataError(checkpoint, "checkpoint not found")
    detected = arch == "auto"
    arch = detect_arch(checkpoint) if detected else arch
    encoder, info = import_encoder(checkpoint, arch)
    print(f"evaluate: {checkpoint} is a {arch} ({'detected from its keys' if detected else 'as given'}; "
          f"layout {info['layout']})")
    identity = {"method": slug, "arch": arch, "seed": int(profile["seed"]), "profile": profile["name"],
                "data_kind": profile["data_kind"]}
    count = sum(p.numel() for p in encoder.parameters())
    meta = {**identity, "title": name, "plugin": "pretrained", "source": {**info, "checkpoint": str(checkpoint)},
            "lm": None, "control": None, "parameters": {"trainable": 0, "frozen": count}, "encoder_parameters": count}
    with atomic_dir(out) as tmp:
        save_encoder(encoder, tmp, identity)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.evaluate`` does with its parsed arguments."""
    from benchmark import detect, features, probe, segment  # the stages' commands, run as the pipeline runs them
    from benchmark.core.config import load_profile

    profile = load_profile(args.params, args.profile)
    slug = slug_of(args.name)
    check_prepared(args.stores, args.splits, args.protocol)
    root = args.work / slug
    model = root / "model"
    import_checkpoint(args.checkpoint, args.arch, slug, args.name, profile, model)
    common = ["--params", str(args.params), *(["--profile", args.profile] if args.profile else [])]
    data = ["--stores", str(args.stores), "--splits", str(args.splits), "--protocol", args.protocol]
    runs = root / "results"
    steps = [
        (features.main, ["--encoder", str(model), "--stores", str(args.stores), "--datasets", *datasets_for("classification"),
                         "--out", str(root / "features")]),
        (probe.main, ["--method", slug, "--datasets", *datasets_for("classification"), "--features", str(root / "features"),
                      "--encoder-meta", str(model / "meta.json"), *data, "--out", str(runs / "classification")]),
        (segment.main, ["--method", slug, "--encoder", str(model), "--datasets", *datasets_for("segmentation"), *data,
                        "--out", str(runs / "segmentation")]),
        (detect.main, ["--method", slug, "--encoder", str(model), "--datasets", *datasets_for("detection"), *data,
                       "--out", str(runs / "detection")]),
    ]
    for step, argv_step in steps:
        code = step(argv_step + common)
        if code:
            return code
    return report_rows(runs, args.results, root / "leaderboard.md", args.name)


def report_rows(runs: Path, pipeline: Path, out: Path, title: str) -> int:
    """The leaderboard with your runs beside the pipeline's (same profile), and your rows printed."""
    import pandas as pd

    from benchmark.core.atomic import write_text
    from benchmark.reporting.report import render
    from benchmark.reporting.results import load_results

    mine = load_results(runs)
    theirs = load_results(pipeline) if pipeline.is_dir() else pd.DataFrame()
    if len(theirs):
        theirs = theirs[(theirs["profile"] == mine["profile"].iloc[0]) & (theirs["method"] != mine["method"].iloc[0])]
    markdown, _ = render(pd.concat([theirs, mine], ignore_index=True) if len(theirs) else mine)
    write_text(out, markdown)
    header = None
    for line in markdown.splitlines():
        if line.startswith("| Method"):
            header = line
        elif line.startswith(f"| {title} ") and header:
            print(header)
            print(line)
            header = None
    print(f"evaluate: {len(mine)} runs; the full leaderboard with your rows is {out}")
    return 0
