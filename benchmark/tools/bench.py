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
   read from ``OUT/bench_repro.json``;
6. the store build on films of real size (2,500 x 3,000 JPEGs, quality 95, as MIMIC-CXR-JPG
   ships them): reduced (DCT-scaled) vs full JPEG decoding, and all cores vs one worker; and
   the build's peak memory at 1k and at 10k (small) images, each build in a fresh process;
7. the pre-training input pipeline as the engine runs it in its worker processes (memory-mapped
   store, M-FLAG's official augmentations, 224 px) on one worker, in images/s per core, against
   the 190 per core that a GPU at 3,000 images/s needs from a 16-core machine.

The data are small phantom RSNA and MIMIC stores written into a temporary folder (the
bench needs no prepared workspace); the encoder is the paper's ResNet-50 at 224 px with
random weights (speed does not depend on the weights). Writes ``OUT/bench.json`` and
``OUT/bench.md``. Not part of the test suite: it takes ~6 minutes on 2 idle cores (and
several times that on a loaded machine: many small parallel regions wait on descheduled
threads, so run it alone).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmark.core.atomic import write_json, write_text
from benchmark.core.errors import DataError
from benchmark.tools.bench_store import bench_store_build
from benchmark.tools.timing import interleaved

REPRO_FILE = "bench_repro.json"


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of the bench; the defaults fit 10 minutes on 2 CPU cores."""

    arch: str = "resnet50"  # pre-training step and loading: the paper's encoder and input size
    input_size: int = 224
    store_size: int = 256
    # pre-training step: at batch 4 the projection heads' AdamW update (9.2 M parameters, per step,
    # not per image) read 1.13x the encoder-only floor; the paper's batch is 128 per GPU
    batch_size: int = 8
    lm_max_length: int = 512
    rounds: int = 2  # timed rounds per variant (after one warm-up round)
    step_rounds: int = 7  # pre-training step: sub-second steps; with 2 rounds one run read 1.38x, steady state is ~1.05x
    downstream_arch: str = "resnet50"  # probe and heads (same encoder; separate fields for --quick)
    downstream_size: int = 224
    probe_images: tuple[int, int, int] = (40, 10, 10)  # train, valid, test (MGCA's RSNA split is 70/15/15)
    head_images: tuple[int, int] = (24, 8)  # train, valid
    head_epochs: int = 3
    threads: int = 2
    seed: int = 0
    films: int = 160  # store build: JPEGs of film_shape decoded per variant (48 left 2 workers at 1.25x: start-up dominated)
    film_shape: tuple[int, int] = (3000, 2500)
    memory_images: tuple[int, int] = (1000, 10000)  # store builds whose peak memory is compared

    @classmethod
    def quick(cls) -> "BenchConfig":
        """A smoke-sized run (ResNet-18, 64 px) to check the command itself, not for figures."""
        return cls(arch="resnet18", input_size=64, store_size=64, batch_size=4, lm_max_length=64, rounds=1, step_rounds=1,
                   downstream_size=64, probe_images=(24, 12, 24), head_images=(8, 4), head_epochs=1,
                   films=4, film_shape=(600, 500), memory_images=(40, 80))



# -- workspace ----------------------------------------------------------------------------


def build_stores(root: Path, cfg: BenchConfig) -> dict:
    """Small phantom MIMIC (reports) and RSNA (labels, boxes, masks) stores under ``root``."""
    from benchmark.data.datasets import WRITERS, get_reader
    from benchmark.data.store import Store, build_store

    n_rsna = 3 * sum(cfg.probe_images) + 40  # ~22% of RSNA patients are positive
    sizes = {"mimic": {"studies": max(40, cfg.batch_size * 3), "lateral_share": 0.0}, "rsna": {"patients": n_rsna}}
    stores = {}
    for name, settings in sizes.items():
        raw = root / "raw" / name
        raw.mkdir(parents=True)
        WRITERS[name](raw, seed=cfg.seed, image_size=cfg.store_size, workers=1, **settings)
        build_store(get_reader(name), raw, root / "store" / name, cfg.store_size)
        stores[name] = Store.open(root / "store" / name)
    return stores


def balanced_rows(labels: np.ndarray, counts: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Disjoint row sets of the given sizes, each about half positive (so AUROC is defined)."""
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(np.flatnonzero(labels == 1)), rng.permutation(np.flatnonzero(labels == 0))
    out, p, q = [], 0, 0
    for count in counts:
        k = min(count // 2, len(pos) - p)
        out.append(np.sort(np.concatenate([pos[p:p + k], neg[q:q + count - k]])))
        p, q = p + k, q + count - k
    if q > len(neg):
        raise DataError(None, f"bench: not enough RSNA images for {counts}")
    return out


# -- 1. pre-training step ------------------------------------------------------------------


def bench_pretrain_step(stores: dict, cfg: BenchConfig) -> dict:
    from benchmark.data.transforms import crop_boxes, crop_input
    from benchmark.pretraining.engine import build_method
    from benchmark.pretraining.methods import TextInput, get_method
    from benchmark.pretraining.text import encode_texts, load_lm, resolve_lm

    store = stores["mimic"]
    texts = store.manifest["text"].astype(str).tolist()
    choice = resolve_lm("auto")
    tokenizer, lm = load_lm(choice)
    lm.requires_grad_(False)
    start = time.perf_counter()
    embeddings = torch.from_numpy(encode_texts(texts, tokenizer, lm, cfg.lm_max_length, 32))
    embed_all_s = time.perf_counter() - start

    method = build_method(get_method("mflag"), {"arch": cfg.arch}, TextInput(dim=int(lm.config.hidden_size)), cfg.seed)
    method.train()
    optim = torch.optim.AdamW([p for p in method.parameters() if p.requires_grad], lr=1e-5)
    floor_optim = torch.optim.AdamW(method.encoder.parameters(), lr=1e-5)
    idx = np.arange(cfg.batch_size)
    boxes = crop_boxes(len(idx), store.images.shape[-1], torch.Generator().manual_seed(cfg.seed))
    x = crop_input(torch.from_numpy(np.ascontiguousarray(store.images[idx])), boxes, cfg.input_size)
    # the official code pads every report to max_length; tokenising is left out of the timing
    tokens = tokenizer([texts[i] for i in idx], padding="max_length", truncation=True, max_length=cfg.lm_max_length,
                       return_tensors="pt")

    def step(text: torch.Tensor) -> None:
        terms = method(x, text)
        optim.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optim.step()

    def with_lm() -> None:
        with torch.no_grad():
            text = lm(**tokens).last_hidden_state[:, 0]
        step(text)

    # CXR-BERT (the paper's LM) has BERT-base's shape: time that shape with random weights,
    # since the packaged MiniLM is ~1/7 of its compute per token
    from transformers import BertConfig, BertModel

    torch.manual_seed(cfg.seed)
    bert_base = BertModel(BertConfig(max_position_embeddings=max(512, cfg.lm_max_length)), add_pooling_layer=False).eval()
    bert_tokens = {k: v.clamp(max=bert_base.config.vocab_size - 1) if k == "input_ids" else v for k, v in tokens.items()
                   if k in ("input_ids", "attention_mask", "token_type_ids")}

    def with_bert_base() -> None:
        with torch.no_grad():
            text = bert_base(**bert_tokens).last_hidden_state[:, 0, :int(lm.config.hidden_size)]
        step(text)

    def floor() -> None:
        loss = method.encoder(x).pooled.square().mean()
        floor_optim.zero_grad(set_to_none=True)
        loss.backward()
        floor_optim.step()

    t = interleaved({"cached": lambda: step(embeddings[idx]), "lm_every_step": with_lm,
                     "bert_base_every_step": with_bert_base, "encoder_only": floor}, cfg.step_rounds)
    return {
        "lm": choice.as_dict(), "lm_layers": int(lm.config.num_hidden_layers), "lm_hidden": int(lm.config.hidden_size),
        "batch_size": cfg.batch_size, "tokens": cfg.lm_max_length, "step_s": t,
        "cached_over_floor": t["cached"] / t["encoder_only"],
        "lm_every_step_over_cached": t["lm_every_step"] / t["cached"],
        "bert_base_every_step_over_cached": t["bert_base_every_step"] / t["cached"],
        "embed_all_reports_s": embed_all_s, "reports": len(texts),
        "goal": "cached step within 1.1x of the encoder-only step",
        "met": t["cached"] / t["encoder_only"] <= 1.1,
    }


# -- 2. linear probe -----------------------------------------------------------------------


def bench_probe(stores: dict, cfg: BenchConfig, probe_cfg: dict) -> dict:
    from benchmark.data.transforms import to_input
    from benchmark.evaluation.features import extract_pooled
    from benchmark.evaluation.linear_probe import fit_linear_probe
    from benchmark.evaluation.metrics import auroc
    from benchmark.pretraining.encoders import ImageEncoder

    store = stores["rsna"]
    labels = store.manifest["target"].astype(int).to_numpy()
    train, valid, test = balanced_rows(labels, cfg.probe_images, cfg.seed)
    torch.manual_seed(cfg.seed)
    encoder = ImageEncoder(cfg.downstream_arch).eval().requires_grad_(False)
    images, size = store.images, cfg.downstream_size

    def cached() -> tuple[float, int]:
        feats = {name: extract_pooled(encoder, images[rows], size) for name, rows in
                 (("train", train), ("valid", valid), ("test", test))}
        layer, fit = fit_linear_probe(feats["train"], labels[train], feats["valid"], labels[valid], probe_cfg, cfg.seed)
        with torch.no_grad():
            scores = layer(torch.from_numpy(feats["test"])).squeeze(1).numpy()
        return auroc(labels[test], scores), fit["epochs_run"]

    @torch.no_grad()
    def encode(batch_uint8: torch.Tensor) -> torch.Tensor:
        return encoder(to_input(batch_uint8, size)).pooled

    def uncached() -> tuple[float, int]:
        layer, fit = fit_linear_probe(images[train], labels[train], images[valid], labels[valid], probe_cfg, cfg.seed,
                                      encode=encode)
        test_feats = torch.cat([encode(torch.from_numpy(np.ascontiguousarray(images[test[s:s + 64]])))
                                for s in range(0, len(test), 64)])
        with torch.no_grad():
            scores = layer(test_feats).squeeze(1).numpy()
        return auroc(labels[test], scores), fit["epochs_run"]

    out = {}
    for name, fn in (("cached", cached), ("backbone_every_epoch", uncached)):
        start = time.perf_counter()
        auc, epochs = fn()
        out[name] = {"seconds": time.perf_counter() - start, "test_auroc": auc, "epochs_run": epochs}
    ratio = out["backbone_every_epoch"]["seconds"] / out["cached"]["seconds"]
    auc_gap = abs(out["cached"]["test_auroc"] - out["backbone_every_epoch"]["test_auroc"])
    return {**out, "n": dict(zip(("train", "valid", "test"), map(int, cfg.probe_images))), "speedup": ratio,
            "auroc_gap": auc_gap, "probe": {k: probe_cfg[k] for k in ("lr", "batch_size", "max_epochs", "patience")},
            "goal": ">= 10x faster at equal test AUC (+-0.005)", "met": ratio >= 10 and auc_gap <= 0.005}


# -- 3. data loading -----------------------------------------------------------------------


def bench_loading(stores: dict, cfg: BenchConfig, step: dict) -> dict:
    """Images/s of the pre-training input path (memory-mapped store rows -> random crop ->
    resize -> normalise), as the engine runs it, vs. the cached pre-training step."""
    from benchmark.data.transforms import crop_boxes, crop_input

    images = stores["mimic"].images
    n = images.shape[0]
    gen = torch.Generator().manual_seed(cfg.seed)
    order = np.random.default_rng(cfg.seed).permutation(n)
    batches = [np.sort(order[s:s + cfg.batch_size]) for s in range(0, n - cfg.batch_size + 1, cfg.batch_size)]
    boxes = crop_boxes(n, images.shape[-1], gen)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < 5.0 or count < 4 * cfg.batch_size:
        for idx in batches:
            crop_input(torch.from_numpy(np.ascontiguousarray(images[idx])), boxes[idx], cfg.input_size)
            count += len(idx)
    load_ips = count / (time.perf_counter() - start)
    model_ips = cfg.batch_size / step["step_s"]["cached"]
    return {"loader_images_per_s": load_ips, "model_images_per_s": model_ips, "ratio": load_ips / model_ips,
            "goal": "loading >= 3x the model's images/s", "met": load_ips / model_ips >= 3}


def bench_pipeline_per_core(store_path: Path, cfg: BenchConfig) -> dict:
    """Figure 7: the engine's input pipeline on one worker process (:mod:`benchmark.tools.bench_pipeline`)."""
    from benchmark.tools.bench_pipeline import bench_input_pipeline

    return bench_input_pipeline(store_path, torch.device("cpu"), batch_size=32, input_size=cfg.input_size, workers=1,
                                loader_batches=2 if cfg.films < 10 else 16, rounds=cfg.rounds, seed=cfg.seed)


# -- 4. segmentation / detection heads -----------------------------------------------------


def bench_heads(stores: dict, cfg: BenchConfig, profile: dict, device: torch.device | None = None) -> dict:
    """Segmentation and detection heads with the encoder's maps cached vs recomputed per batch, on
    ``device`` (the CPU here; the GPU check runs the same on a GPU, where the heads train too)."""
    from benchmark.evaluation.detect import boxes_at, train_detection
    from benchmark.evaluation.downstream import EncoderMaps, FrozenEncoder, MapSource
    from benchmark.evaluation.segment import UNetHead, masks_at, train_segmentation
    from benchmark.evaluation.yolo import YOLOv3Head, anchors_for
    from benchmark.pretraining.encoders import ImageEncoder

    store = stores["rsna"]
    labels = store.manifest["target"].astype(int).to_numpy()
    train, valid = balanced_rows(labels, cfg.head_images, cfg.seed + 1)
    torch.manual_seed(cfg.seed)
    device = device or torch.device("cpu")
    frozen = FrozenEncoder(ImageEncoder(cfg.downstream_arch).eval().requires_grad_(False), {}, "bench", device=device)
    size = cfg.downstream_size
    # no early stop (equal epochs), and the clean options: the paper profile's MGCA settings
    # (batch-statistics BatchNorm, augmented segmentation batches) encode every training batch anew,
    # with or without a cache (measured: "cached" 11.3 s / "recomputed" 10.4 s, 0.9x, with them)
    fixed = {"max_epochs": cfg.head_epochs, "patience": cfg.head_epochs, "encoder_bn": "eval"}

    def sources(cache: bool) -> tuple[MapSource, MapSource]:
        maps = EncoderMaps(frozen, store.images, size, np.concatenate([train, valid]) if cache else None)
        return MapSource(maps, train), MapSource(maps, valid)

    def segmentation(cache: bool) -> float:
        tr, va = sources(cache)
        seg_cfg = {**profile["segment"], **fixed, "augment": "none"}
        torch.manual_seed(cfg.seed)
        head = UNetHead(frozen.encoder.map_channels, tuple(seg_cfg["decoder_channels"])).to(device)
        fit = train_segmentation(head, tr, masks_at(store.masks[train], size).to(device), va,
                                 masks_at(store.masks[valid], size).to(device), seg_cfg, 8, cfg.seed)
        return fit["best_valid"]

    def detection(cache: bool) -> float:
        tr, va = sources(cache)
        det_cfg = {**profile["detect"], **fixed}
        boxes = store.manifest["boxes"]
        torch.manual_seed(cfg.seed)
        head = YOLOv3Head(tuple(frozen.encoder.map_channels[1:]), tuple(det_cfg["widths"]),
                          objectness_prior=det_cfg.get("objectness_prior")).to(device)
        fit = train_detection(head, tr, boxes_at(boxes.iloc[train].tolist(), store.images.shape[-1], size), va,
                              boxes_at(boxes.iloc[valid].tolist(), store.images.shape[-1], size), anchors_for(size).to(device),
                              det_cfg, float(det_cfg["lr"]), 8, cfg.seed)
        return fit["best_valid"]

    out = {}
    for task, fn in (("segmentation", segmentation), ("detection", detection)):
        row = {}
        fn(True)  # untimed warm-up, so that the first timed variant does not pay the first run's costs alone
        for name, cache in (("cached", True), ("recomputed", False)):
            start = time.perf_counter()
            value = fn(cache)
            row[name] = {"seconds": time.perf_counter() - start, "valid_value": value}
        row["speedup"] = row["recomputed"]["seconds"] / row["cached"]["seconds"]
        row["valid_value_gap"] = abs(row["cached"]["valid_value"] - row["recomputed"]["valid_value"])
        out[task] = row
    return {**out, "n": {"train": int(len(train)), "valid": int(len(valid))}, "epochs": cfg.head_epochs,
            "goal": "report the speed-up (no target set)"}


# -- 5. dvc repro ----------------------------------------------------------------------------


def _timed_command(cmd: list[str], cwd: Path, env: dict) -> tuple[float, dict[str, float]]:
    """Seconds ``cmd`` took in ``cwd`` and, from DVC's output read as it comes, the wall seconds
    of each stage group it ran; a failure is a DataError (no timing of a broken run)."""
    start = time.perf_counter()
    events: list[tuple[float, str]] = []
    # bytes, split on newlines only: the stages' progress bars redraw with carriage returns
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            sys.stdout.buffer.write(raw)
            sys.stdout.flush()
            events.append((time.perf_counter(), raw.decode(errors="replace")))
    end = time.perf_counter()
    if proc.returncode:
        raise DataError(cwd, f"`{' '.join(cmd)}` failed with exit code {proc.returncode}")
    return end - start, stage_seconds(events, end)


STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def stage_seconds(events: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Wall seconds per stage group (the name before ``@``) from DVC's timestamped output lines:
    a stage runs from its "Running stage" line to the next one (the last to ``end``)."""
    starts = [(t, m.group(1).split("@")[0]) for t, line in events if (m := STAGE_LINE.match(line))]
    out: dict[str, float] = {}
    for (t, group), (t_next, _) in zip(starts, [*starts[1:], (end, "")]):
        out[group] = out.get(group, 0.0) + t_next - t
    return out


def run_repro(workspace: Path, noop_runs: int = 3) -> dict:
    """Run ``dvc repro`` in ``workspace`` (its stages use this interpreter's environment), then
    again ``noop_runs`` times with nothing to do; peak memory is the largest process's RSS; the
    wall time of each stage group says where a missed budget went."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    dvc = [sys.executable, "-m", "dvc", "repro"]
    status = subprocess.run([*dvc[:3], "status", "--json"], cwd=workspace, env=env, capture_output=True, text=True)
    stale = len(json.loads(status.stdout or "{}")) if status.returncode == 0 else None
    full_s, stages = _timed_command(dvc, workspace, env)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    noop = [_timed_command(dvc, workspace, env)[0] for _ in range(noop_runs)]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=workspace, capture_output=True, text=True)
    profile = yaml.safe_load((workspace / "params.yaml").read_text()).get("profile")
    return {"workspace_commit": commit.stdout.strip(), "profile": profile, "stages_to_run": stale, "repro_s": full_s,
            "repro_cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_gib": usage.ru_maxrss / 2**20,
            "stage_groups_s": stages,
            "noop_s": statistics.median(noop), "noop_runs_s": noop, "noop_goal": "<= 10 s",
            "noop_met": statistics.median(noop) <= 10, "measured": machine()}


# -- report -----------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def to_markdown(result: dict) -> str:
    m, c = result["machine"], result["config"]
    lines = [f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, {m['threads']} threads), "
             f"Python {m['python']}, torch {m['torch']}. Pre-training step and loading: {c['arch']} at "
             f"{c['input_size']} px; probe and heads: {c['downstream_arch']} at {c['downstream_size']} px "
             f"(probe {c['probe_images'][0]}/{c['probe_images'][1]}/{c['probe_images'][2]} train/valid/test images, "
             f"heads {c['head_images'][0]}/{c['head_images'][1]})." + (" QUICK RUN: sizes too small to mean anything."
                                                                       if result["quick"] else ""), "",
             "| # | figure | measured | goal | met |", "|---|---|---|---|---|"]
    s = result["pretrain_step"]
    t = s["step_s"]
    lines.append(f"| 1 | pre-training step (batch {s['batch_size']}): cached embeddings / encoder-only floor | "
                 f"{s['cached_over_floor']:.2f}x ({t['cached']:.2f} s / {t['encoder_only']:.2f} s) | <= 1.1x | "
                 f"{'yes' if s['met'] else 'no'} |")
    lines.append(f"| 1 | ... frozen LM ({s['lm']['name']}, {s['tokens']} tokens) every step / cached | "
                 f"{s['lm_every_step_over_cached']:.2f}x ({t['lm_every_step']:.2f} s / {t['cached']:.2f} s) | - | - |")
    lines.append(f"| 1 | ... BERT-base-sized LM (CXR-BERT's shape, {s['tokens']} tokens) every step / cached | "
                 f"{s['bert_base_every_step_over_cached']:.2f}x ({t['bert_base_every_step']:.2f} s / {t['cached']:.2f} s) "
                 "| - | - |")
    p = result["probe"]
    lines.append(f"| 2 | linear probe: backbone every epoch / cached features | {p['speedup']:.1f}x "
                 f"({p['backbone_every_epoch']['seconds']:.1f} s / {p['cached']['seconds']:.1f} s, "
                 f"{p['cached']['epochs_run']} epochs; AUROC gap {p['auroc_gap']:.4f}) | >= 10x, gap <= 0.005 | "
                 f"{'yes' if p['met'] else 'no'} |")
    d = result["loading"]
    lines.append(f"| 3 | store loading / model images per s | {d['ratio']:.1f}x ({d['loader_images_per_s']:.0f} / "
                 f"{d['model_images_per_s']:.1f}) | >= 3x | {'yes' if d['met'] else 'no'} |")
    h = result["heads"]
    for task in ("segmentation", "detection"):
        r = h[task]
        lines.append(f"| 4 | {task} head, {h['epochs']} epochs, clean options: maps recomputed / cached | {r['speedup']:.2f}x "
                     f"({r['recomputed']['seconds']:.1f} s / {r['cached']['seconds']:.1f} s) | - | - |")
    r = result.get("repro")
    if r:
        lines.append(f"| 5 | default `dvc repro` (commit {r['workspace_commit']}, {r['measured']['date']}) | "
                     f"{r['repro_s'] / 60:.1f} min wall, {r['repro_cpu_s'] / 60:.1f} min CPU, peak RSS "
                     f"{r['peak_rss_gib']:.2f} GiB | 30 min (issue 7) | {'yes' if r['repro_s'] <= 1800 else 'no'} |")
        if r.get("stage_groups_s"):
            spent = ", ".join(f"{name} {sec / 60:.1f}" for name, sec in
                              sorted(r["stage_groups_s"].items(), key=lambda kv: -kv[1]))
            lines.append(f"| 5 | ... where the wall time went (profile `{r.get('profile')}`), minutes per stage | {spent} "
                         "| - | - |")
        lines.append(f"| 5 | no-op `dvc repro` | {r['noop_s']:.1f} s | <= 10 s | {'yes' if r['noop_met'] else 'no'} |")
    else:
        lines.append(f"| 5 | default `dvc repro` | not measured: run `python -m benchmark.bench --repro DIR` "
                     f"(writes {REPRO_FILE}) | - | - |")
    b = result.get("store_build")
    if b:
        cores = b["cores"]
        lines.append(f"| 6 | store build, {b['films']} JPEGs {b['film_shape'][0]} x {b['film_shape'][1]} -> "
                     f"{b['store_size']} px, 1 worker: full / reduced decoding | {b['reduced_over_full']:.1f}x "
                     f"({b['images_per_s']['full_1']:.1f} / {b['images_per_s']['reduced_1']:.1f} images/s) | - | - |")
        lines.append(f"| 6 | ... reduced decoding, {cores} workers / 1 worker | {b['workers_speedup']:.2f}x "
                     f"({b['images_per_s'][f'reduced_{cores}']:.1f} images/s) | close to {cores}x | - |")
        m = b["peak_rss_gib"]
        (n1, v1), (n2, v2) = m.items()
        lines.append(f"| 6 | store build peak RSS, {int(n2):,} / {int(n1):,} images | {b['memory_ratio']:.2f}x "
                     f"({v2:.2f} GiB / {v1:.2f} GiB) | <= 1.2x | {'yes' if b['met'] else 'no'} |")
    q = result.get("input_pipeline")
    if q:
        lines.append(f"| 7 | pre-training input pipeline ({q['workers']} worker, M-FLAG's augmentations, {c['input_size']} px) "
                     f"| {q['images_per_s_per_worker']:.0f} images/s per core | >= {q['goal_per_core']} | "
                     f"{'yes' if q['met'] else 'no'} |")
    lines.append(f"\nBench wall time {result['wall_s']:.0f} s, peak RSS {result['peak_rss_gib']:.2f} GiB.")
    return "\n".join(lines) + "\n"


def latest_repro(out: Path) -> dict | None:
    """The figures of the last ``--repro`` run written to ``out``, if any."""
    path = out / REPRO_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def rewrite_table(out: Path) -> str:
    """bench.json's figures with the latest bench_repro.json (a --repro run takes tens of minutes
    and the other figures would not change with it), written to bench.json and bench.md."""
    if not (out / "bench.json").is_file():
        raise DataError(out / "bench.json", "no bench figures to rewrite: run `python -m benchmark.bench` first")
    result = json.loads((out / "bench.json").read_text())
    result["repro"] = latest_repro(out)
    write_json(out / "bench.json", result)
    table = to_markdown(result)
    write_text(out / "bench.md", table)
    return table


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.bench`` does with its parsed arguments."""
    if args.table:
        print(rewrite_table(args.out))
        return 0
    if args.repro is not None:
        figures = run_repro(args.repro)
        write_json(args.out / REPRO_FILE, figures)
        print(json.dumps(figures, indent=2))
        return 0
    from benchmark.core.config import load_profile

    cfg = BenchConfig.quick() if args.quick else BenchConfig()
    profile = load_profile(args.params, "paper")
    torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        stores = build_stores(Path(tmp), cfg)
        print("bench: stores ready; 1/5 pre-training step", flush=True)
        step = bench_pretrain_step(stores, cfg)
        print("bench: 2/5 linear probe", flush=True)
        probe = bench_probe(stores, cfg, profile["probe"])
        print("bench: 3/5 data loading", flush=True)
        loading = bench_loading(stores, cfg, step)
        print("bench: 4/5 segmentation and detection heads", flush=True)
        heads = bench_heads(stores, cfg, profile)
        del stores
        print("bench: 5/5 store build", flush=True)
        store_build = bench_store_build(Path(tmp) / "build", cfg.films, cfg.film_shape, cfg.store_size,
                                        cfg.memory_images, cfg.rounds, cfg.seed)
        print("bench: 7 input pipeline per core", flush=True)
        pipeline = bench_pipeline_per_core(Path(tmp) / "store" / "mimic", cfg)
    result = {"config": asdict(cfg), "quick": args.quick, "machine": machine(), "pretrain_step": step, "probe": probe,
              "loading": loading, "heads": heads, "store_build": store_build,
              "input_pipeline": pipeline,
              "repro": latest_repro(args.out),
              "wall_s": time.perf_counter() - start,
              "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
    write_json(args.out / "bench.json", result)
    write_text(args.out / "bench.md", to_markdown(result))
    print(to_markdown(result))
    return 0
