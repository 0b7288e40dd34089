"""``python -m benchmark.bench --estimate``: the wall time of the full ``paper`` matrix, from rates.

The work is counted from the configuration (the paper profile's methods, each method's official
epochs and input size, the probe's and heads' seeds, fractions and epochs) and the real datasets'
split sizes (``benchmark/configs/protocols.yaml``), as images passed through the image encoder.
Every stage runs its encoder (and head) on the GPU. Each kind of pass has a rate, taken from
``results/bench_gpu.json`` when that was measured on a GPU (``python -m benchmark.bench --device
cuda``), else derived from the one published figure the issue names (a ResNet-50 at 224 px trains
at ~2,500 images/s with mixed precision on an A100) by stated factors, marked as such:

- frozen-encoder forward in float32 (features, augmented probe): 3/2 of it (a forward pass is about
  a third of a training step; float32 runs at about half the mixed-precision rate);
- head training with the encoder's maps recomputed (float32): 1/2 of it (encoder forward plus the
  head's forward and backward);
- a trainable LM's share of a pre-training step: 40 %; a 299-px input costs (299/224)^2 more.

Figures are upper bounds on the heads and probes (every run trains to ``max_epochs``; early
stopping ends most sooner) and ideal in scaling (8 GPUs divide the time by 8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: train / valid / test images per dataset under MGCA's splits (benchmark/configs/protocols.yaml)
REAL_SPLITS = {"chexpert": (186_027, 5_000, 202), "rsna": (16_010, 5_337, 5_337), "covidx": (23_988, 5_998, 400),
               "siim": (8_433, 1_807, 1_807), "object_cxr": (6_400, 1_600, 1_000)}
#: MIMIC-CXR image-report pairs the official methods pre-train on (MGCA, NeurIPS 2022, section 4.1: ~217k)
PRETRAIN_IMAGES = 217_000
#: share of SIIM training images with a pneumothorax (~22 %): MGCA trains on those and as many without
SIIM_POSITIVE_SHARE = 0.22
#: published: ResNet-50 at 224 px, mixed precision, one A100 (the issue's figure, ~2,500 images/s)
PUBLISHED_TRAIN_RATE = 2_500.0
#: a trainable LM's share of a pre-training step (BERT layers at <= 128 tokens beside a ResNet-50
#: step): an assumption, replaced by the measured live-LM ratio once bench_gpu.json has one
TRAINABLE_LM_COST = 0.4


@dataclass(frozen=True)
class Rates:
    """Images per second for each kind of pass, and where the figures come from."""

    train_gpu: float  # M-FLAG pre-training step at 224 px, mixed precision, cached text
    forward_gpu: float  # frozen encoder forward in float32 (feature extraction, augmented probe)
    segment_gpu: float  # U-Net head training, maps recomputed per batch
    detect_gpu: float  # YOLOv3 head training, maps recomputed per batch
    source: str
    lm_cost: float = TRAINABLE_LM_COST


def load_rates(results: Path) -> Rates:
    """Measured rates where ``results/bench_gpu.json`` has a GPU measurement; else the published figure
    and the factors of the module's text."""
    path = results / "bench_gpu.json"
    gpu = json.loads(path.read_text()) if path.is_file() else {}
    if gpu.get("gpu") and not gpu.get("quick"):
        train = float(gpu["pretrain"]["images_per_s"]["cached"])
        heads = gpu["heads"]
        return Rates(train, train * 3 / 2, float(heads["segmentation"]["images_per_s_recomputed"]),
                     float(heads["detection"]["images_per_s_recomputed"]),
                     f"measured on {gpu['gpu']} ({gpu['machine']['date']}; forward: 3/2 of the training rate)")
    train = PUBLISHED_TRAIN_RATE
    return Rates(train, train * 3 / 2, train / 2, train / 2,
                 "published A100 figure (~2,500 images/s) and the stated factors; no GPU measured yet")


def _fraction_images(train: int, fractions: list[int]) -> list[int]:
    return [max(1, train * f // 100) for f in fractions]


def workload(params: Path) -> dict:
    """Images through the encoder per stage and method, from the paper profile."""
    from benchmark.core.config import load_params, load_profile
    from benchmark.pretraining.method_specs import get_method, method_config
    from benchmark.pretraining.methods import plugin_class

    paper, methods = load_profile(params, "paper"), list(load_params(params)["methods"])
    pretrain = {}
    for name in methods:
        spec = get_method(name)
        if not plugin_class(spec.plugin, spec.name).trains:
            continue
        cfg = method_config(spec, paper["pretrain"])
        side = 299 if cfg.get("upsample_299") else int(cfg["input_size"])
        pretrain[name] = {"passes": int(cfg["epochs"]) * PRETRAIN_IMAGES, "pixels": (side / 224) ** 2,
                          "trainable_lm": spec.text.kind not in ("frozen", "none")}
    probe, seg, det = paper["probe"], paper["segment"], paper["detect"]
    datasets = ("chexpert", "rsna", "covidx")
    features = sum(sum(REAL_SPLITS[d]) for d in datasets)
    aug_probe = 0
    if probe.get("train_augment", "none") != "none":
        aug_probe = sum(len(probe["seeds"]) * int(probe["max_epochs"]) * n
                        for d in datasets for n in _fraction_images(REAL_SPLITS[d][0], probe["fractions"]))

    def head(cfg: dict, names: tuple[str, ...]) -> int:
        total = 0
        for d in names:
            train, valid, test = REAL_SPLITS[d]
            if d == "siim" and d in cfg.get("balance_train", []):
                train = int(2 * SIIM_POSITIVE_SHARE * train)
            for n in _fraction_images(train, cfg["fractions"]):
                total += len(cfg["seeds"]) * (int(cfg["max_epochs"]) * (n + valid) + test)
        return total

    return {"methods": methods, "pretrain": pretrain, "features": features, "augmented_probe": aug_probe,
            "segment": head(seg, ("siim", "rsna")), "detect": head(det, ("rsna", "object_cxr"))}


def estimate(params: Path, results: Path) -> dict:
    """Hours per stage on one GPU and on 8 (ideal), with the rates used."""
    rates, work = load_rates(results), workload(params)
    n = len(work["methods"])
    rows = []
    for name, w in work["pretrain"].items():
        rate = rates.train_gpu / w["pixels"] * ((1 - rates.lm_cost) if w["trainable_lm"] else 1.0)
        rows.append({"stage": f"pretrain {name}", "passes": w["passes"], "rate": rate,
                     "hours": w["passes"] / rate / 3600})
    for stage, passes, rate in (
            ("features (all methods)", work["features"] * n, rates.forward_gpu),
            ("augmented probe (all methods)", work["augmented_probe"] * n, rates.forward_gpu),
            ("segmentation (all methods)", work["segment"] * n, rates.segment_gpu),
            ("detection (all methods)", work["detect"] * n, rates.detect_gpu)):
        rows.append({"stage": stage, "passes": passes, "rate": rate, "hours": passes / rate / 3600})
    total = sum(r["hours"] for r in rows)
    pretrain = sum(r["hours"] for r in rows if r["stage"].startswith("pretrain"))
    return {"rows": rows, "total_hours": total, "total_hours_8": total / 8, "pretrain_hours": pretrain,
            "rates": rates.__dict__, "methods": work["methods"]}


def to_markdown(result: dict) -> str:
    lines = ["| stage | images through the encoder | images/s | hours on 1 GPU |", "|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['stage']} | {row['passes'] / 1e6:.1f} M | {row['rate']:,.0f} | {row['hours']:,.1f} |")
    lines.append(f"| **total** | | | **{result['total_hours']:,.0f} h** (8 GPUs, ideal: {result['total_hours_8']:,.0f} h; "
                 f"pre-training {result['pretrain_hours']:,.0f} h of it) |")
    lines.append("")
    lines.append(f"Rates: {result['rates']['source']}. Methods: {', '.join(result['methods'])}. Probes and heads: "
                 "upper bound (every run to max_epochs).")
    return "\n".join(lines) + "\n"
