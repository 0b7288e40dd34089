"""``python -m benchmark.bench --device cuda``: the paper-scale rates on one accelerator.

Three figures, each a ratio of variants timed side by side (interleaved rounds after a warm-up,
median, the device synchronised before every clock read), written to ``OUT/bench_gpu.json``:

1. **pre-training step**: M-FLAG (ResNet-50 at 224 px, cached report embeddings) with the
   official recipe's mixed precision (float16 autocast with a gradient scaler on CUDA; float32 on
   CPU) and channels-last memory, in images/s, against the encoder-only floor (the same encoder's
   forward and backward alone);
2. **live LM**: a BERT-base-shaped LM (CXR-BERT's shape, random weights: the paper's LM is not
   downloadable here) run on every step at 512 tokens, against the cached embeddings;
3. **input pipeline**: the engine's own (worker processes reading the memory-mapped store and
   applying M-FLAG's official augmentations, ``benchmark/configs/methods.yaml``, batches pinned
   and prefetched), in images/s and per worker, against the model's images/s and against the rate
   a GPU at 3,000 images/s needs from 16 cores (>= 190 images/s per core).

4. **heads**: the paper profile's U-Net and YOLOv3 heads trained on the device with the encoder's
   maps cached vs recomputed per batch (the paper profile recomputes them), in images/s.

``--quick`` shrinks everything (ResNet-18 at 64 px, a 2-layer LM, 32 tokens) so that the suite
runs the command on CPU; its figures mean nothing. The data are a phantom MIMIC store written
into a temporary folder, so the command needs no prepared workspace.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmark.core.atomic import write_json
from benchmark.core.errors import DataError
from benchmark.data.store import Store
from benchmark.tools.bench_pipeline import bench_input_pipeline
from benchmark.tools.timing import interleaved, synchronised


@dataclass(frozen=True)
class GpuBenchConfig:
    """Sizes of the GPU bench; the defaults fill an H100/A100-class GPU for a few minutes."""

    arch: str = "resnet50"
    input_size: int = 224
    store_size: int = 256
    batch_size: int = 128
    lm_max_length: int = 512
    lm_layers: int = 12
    lm_hidden: int = 768
    images: int = 1024  # rows of the phantom store the input pipeline reads
    loader_batches: int = 24  # batches the input pipeline delivers per timed round
    workers: int = 0  # input-pipeline processes; 0: the cores available
    rounds: int = 3
    seed: int = 0

    @classmethod
    def quick(cls) -> "GpuBenchConfig":
        return cls(arch="resnet18", input_size=64, store_size=64, batch_size=4, lm_max_length=32, lm_layers=2,
                   lm_hidden=64, images=24, loader_batches=3, workers=2, rounds=1)


def bench_pretrain(store_path: Path, cfg: GpuBenchConfig, device: torch.device) -> dict:
    from transformers import BertConfig, BertModel

    from benchmark.data.transforms import crop_boxes, crop_input
    from benchmark.pretraining import recipe
    from benchmark.pretraining.engine import build_method
    from benchmark.pretraining.methods import TextInput, get_method

    store = Store.open(store_path)
    idx = np.arange(cfg.batch_size) % len(store.manifest)
    boxes = crop_boxes(len(idx), store.images.shape[-1], torch.Generator().manual_seed(cfg.seed))
    x = crop_input(torch.from_numpy(np.ascontiguousarray(store.images[idx])), boxes, cfg.input_size)
    x = x.to(device).contiguous(memory_format=torch.channels_last)
    amp = torch.float16 if device.type == "cuda" else None  # M-FLAG's official float16 (CPU: float32)
    scaler = recipe.grad_scaler(device, amp)
    method = build_method(get_method("mflag"), {"arch": cfg.arch}, TextInput(dim=cfg.lm_hidden), cfg.seed)
    method = method.to(device).to(memory_format=torch.channels_last).train()
    optim = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-5)
    floor_optim = torch.optim.AdamW(method.encoder.parameters(), lr=1e-5)
    cached = torch.randn(cfg.batch_size, cfg.lm_hidden, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    torch.manual_seed(cfg.seed)
    lm = BertModel(BertConfig(hidden_size=cfg.lm_hidden, num_hidden_layers=cfg.lm_layers,
                              num_attention_heads=max(1, cfg.lm_hidden // 64), intermediate_size=4 * cfg.lm_hidden,
                              max_position_embeddings=max(512, cfg.lm_max_length)), add_pooling_layer=False)
    lm = lm.to(device).eval().requires_grad_(False)
    tokens = torch.randint(1000, 20000, (cfg.batch_size, cfg.lm_max_length),
                           generator=torch.Generator().manual_seed(cfg.seed)).to(device)

    def step(text: torch.Tensor, model, opt, loss_of) -> None:
        with recipe.autocast(device, amp):
            loss = loss_of(model, text)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def mflag_loss(model, text):
        return model(x, text)["loss"]

    def with_lm() -> None:
        with torch.no_grad(), recipe.autocast(device, amp):
            text = lm(input_ids=tokens).last_hidden_state[:, 0].float()
        step(text, method, optim, mflag_loss)

    variants = {"cached": lambda: step(cached, method, optim, mflag_loss),
                "lm_every_step": with_lm,
                "encoder_only": lambda: step(None, method.encoder, floor_optim,
                                             lambda enc, _: enc(x).pooled.float().square().mean())}
    t = interleaved({k: synchronised(v, device) for k, v in variants.items()}, cfg.rounds)
    ips = {k: cfg.batch_size / v for k, v in t.items()}
    return {"batch_size": cfg.batch_size, "amp": str(amp).replace("torch.", "") if amp else "none",
            "channels_last": True, "step_s": t, "images_per_s": ips,
            "cached_over_floor": t["cached"] / t["encoder_only"],
            "lm_every_step_over_cached": t["lm_every_step"] / t["cached"],
            "lm": {"shape": f"BERT, {cfg.lm_layers} layers, hidden {cfg.lm_hidden}, random weights",
                   "tokens": cfg.lm_max_length},
            "goal": "cached step within 1.1x of the encoder-only step", "met": t["cached"] / t["encoder_only"] <= 1.1}


def bench_heads_on(device: torch.device, root: Path, quick: bool) -> dict:
    """The CPU bench's figure 4 (:func:`benchmark.tools.bench.bench_heads`: the paper profile's
    U-Net and YOLOv3 sizes trained on a phantom RSNA store, the encoder's maps cached vs recomputed
    per batch, on the clean options where a cache is possible) on ``device``, with images/s per
    epoch of the recomputed runs (the paper profile's MGCA options encode every batch too)."""
    from benchmark.core.config import load_profile
    from benchmark.tools.bench import BenchConfig, bench_heads, build_stores

    sizes = BenchConfig.quick() if quick else BenchConfig(head_images=(128, 32), head_epochs=2, probe_images=(120, 30, 30))
    stores = build_stores(root / "heads", sizes)
    result = bench_heads(stores, sizes, load_profile("params.yaml", "paper"), device)
    per_epoch = (sum(sizes.head_images)) * sizes.head_epochs
    for task in ("segmentation", "detection"):
        result[task]["images_per_s_recomputed"] = per_epoch / result[task]["recomputed"]["seconds"]
    return result


def run_gpu(out: Path, device_name: str, quick: bool) -> dict:
    """All figures on ``device_name``; writes and returns ``OUT/bench_gpu.json``."""
    from benchmark.data.datasets import WRITERS, get_reader
    from benchmark.data.store import build_store
    from benchmark.tools.bench import machine

    device = torch.device(device_name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DataError(None, "bench --device cuda: no CUDA device is visible to torch (CPU-only build or no GPU)")
    cfg = GpuBenchConfig.quick() if quick else GpuBenchConfig()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        raw, store_path = Path(tmp) / "raw", Path(tmp) / "store"
        raw.mkdir()
        WRITERS["mimic"](raw, seed=cfg.seed, image_size=cfg.store_size, workers=1,
                         studies=cfg.images, lateral_share=0.0)
        build_store(get_reader("mimic"), raw, store_path, cfg.store_size)
        print("bench --device: 1/3 pre-training step and live LM", flush=True)
        pretrain = bench_pretrain(store_path, cfg, device)
        print("bench --device: 2/3 input pipeline", flush=True)
        loading = bench_input_pipeline(store_path, device, batch_size=cfg.batch_size, input_size=cfg.input_size,
                                       workers=cfg.workers, loader_batches=cfg.loader_batches, rounds=cfg.rounds,
                                       seed=cfg.seed)
        print("bench --device: 3/3 segmentation and detection heads", flush=True)
        heads = bench_heads_on(device, Path(tmp), quick)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    result = {"config": asdict(cfg), "quick": quick, "device": device_name, "gpu": gpu, "machine": machine(),
              "pretrain": pretrain, "input_pipeline": {**loading, "model_images_per_s": pretrain["images_per_s"]["cached"],
                                                       "over_model": loading["images_per_s"] / pretrain["images_per_s"]["cached"]},
              "heads": heads,
              "wall_s": time.perf_counter() - start}
    write_json(out / "bench_gpu.json", result)
    print(json.dumps({k: result[k] for k in ("device", "gpu", "wall_s")}, indent=1))
    return result
