"""``python -m benchmark.bench --estimate``: the wall time of the full ``paper`` matrix, from rates.

The work is counted from the configuration (the paper profile's methods, each method's official
epochs and input size, the probe's and heads' seeds, fractions and epochs) and the real datasets'
split sizes (``benchmark/configs/protocols.yaml``), as images passed through the image encoder.
Each kind of pass has a rate:

- **GPU rates** come from ``results/bench_gpu.json`` when it was measured on a GPU (``--device
  cuda``); until then from the published figure the issue names (a ResNet-50 at 224 px trains at
  ~2,500 images/s with mixed precision on an A100), marked *published* in the table;
- **CPU rates** (the heads and the augmented probe, whose loops run on CPU) come from the CPU bench
  (``results/bench.json``, figure 4: maps recomputed per batch, ResNet-50 at 224 px), per core,
  scaled to the GPU machine's 16 cores.

Every figure is an upper bound on the heads (every run trains to ``max_epochs``; early stopping
ends most sooner) and ideal on scaling (8 GPUs or 8 machines' worth of cores divide the time by 8).
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
#: a GPU machine's cores (the issue's 16), over which the CPU loops are assumed to scale
GPU_MACHINE_CORES = 16
#: a trainable LM's share of a pre-training step (BERT layers at <= 128 tokens beside a ResNet-50
#: step): an assumption, replaced by the measured live-LM ratio once bench_gpu.json has one
TRAINABLE_LM_COST = 0.4


@dataclass(frozen=True)
class Rates:
    """Images per second for each kind of pass, and where each figure comes from."""

    train_gpu: float  # M-FLAG pre-training step at 224 px, mixed precision, cached text
    train_gpu_source: str
    forward_gpu: float  # frozen encoder forward in float32 (feature extraction)
    head_cpu_per_core: float  # frozen encoder forward + head training, maps per batch, 224 px, per core
    head_cpu_source: str
    lm_cost: float = TRAINABLE_LM_COST


def load_rates(results: Path) -> Rates:
    """Measured rates where the bench files have them; the published GPU figure otherwise."""
    gpu_path, cpu_path = results / "bench_gpu.json", results / "bench.json"
    train, source, lm_cost = PUBLISHED_TRAIN_RATE, "published (A100, ~2,500 images/s)", TRAINABLE_LM_COST
    if gpu_path.is_file():
        gpu = json.loads(gpu_path.read_text())
        if gpu.get("gpu") and not gpu.get("quick"):
            train = float(gpu["pretrain"]["images_per_s"]["cached"])
            source = f"measured on {gpu['gpu']} ({gpu['machine']['date']})"
    if not cpu_path.is_file():
        raise FileNotFoundError(f"{cpu_path}: run `python -m benchmark.bench` first (the CPU heads' rate)")
    cpu = json.loads(cpu_path.read_text())
    seg = cpu["heads"]["segmentation"]["recomputed"]["seconds"]
    cfg = cpu["config"]
    passes = sum(cfg["head_images"]) * cfg["head_epochs"]
    per_core = passes / seg / cpu["machine"]["cores"]
    head_source = (f"measured: CPU bench figure 4 ({cpu['machine']['cpu']}, {cpu['machine']['date']}), "
                   f"{per_core:.2f} images/s per core")
    # forward only is ~1/3 of a training step; float32 (the heads' precision) ~1/2 of mixed precision
    return Rates(train, source, train * 3 / 2, per_core, head_source, lm_cost)


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
    """Hours per stage on one GPU machine (16 cores) and on 8 (ideal), with the rates used."""
    rates, work = load_rates(results), workload(params)
    n = len(work["methods"])
    rows = []
    for name, w in work["pretrain"].items():
        rate = rates.train_gpu / w["pixels"] * ((1 - rates.lm_cost) if w["trainable_lm"] else 1.0)
        rows.append({"stage": f"pretrain {name}", "where": "GPU", "passes": w["passes"], "rate": rate,
                     "hours": w["passes"] / rate / 3600})
    head_rate = rates.head_cpu_per_core * GPU_MACHINE_CORES
    for stage, passes, where, rate in (
            ("features (all methods)", work["features"] * n, "GPU", rates.forward_gpu),
            ("augmented probe (all methods)", work["augmented_probe"] * n, "CPU", head_rate),
            ("segmentation (all methods)", work["segment"] * n, "CPU", head_rate),
            ("detection (all methods)", work["detect"] * n, "CPU", head_rate)):
        rows.append({"stage": stage, "where": where, "passes": passes, "rate": rate, "hours": passes / rate / 3600})
    total = sum(r["hours"] for r in rows)
    return {"rows": rows, "total_hours": total, "total_hours_8": total / 8,
            "gpu_hours": sum(r["hours"] for r in rows if r["where"] == "GPU"),
            "rates": rates.__dict__, "methods": work["methods"]}


def to_markdown(result: dict) -> str:
    r = result["rates"]
    lines = ["| stage | runs on | images through the encoder | images/s | hours, 1 GPU machine |",
             "|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['stage']} | {row['where']} | {row['passes'] / 1e6:.1f} M | {row['rate']:,.0f} | "
                     f"{row['hours']:,.1f} |")
    lines.append(f"| **total** | | | | **{result['total_hours']:,.0f} h** (8 GPUs, ideal: "
                 f"{result['total_hours_8']:,.0f} h; GPU stages alone {result['gpu_hours']:,.1f} h) |")
    lines.append("")
    lines.append(f"GPU rate: {r['train_gpu_source']}; CPU rate: {r['head_cpu_source']}, x {GPU_MACHINE_CORES} cores. "
                 f"Methods: {', '.join(result['methods'])}. Heads: upper bound (every run to max_epochs).")
    return "\n".join(lines) + "\n"
