"""``python -m benchmark.pretrain --method NAME``: the one training engine for every method.

Reads the pre-training store (images) and the reports (cached frozen-LM embeddings,
or tokens for methods whose LM trains), builds the method named in
``benchmark/configs/methods.yaml``, trains it as the profile's settings say (optimizer,
schedule, mixed precision, clipping, augmentation, gather: :mod:`benchmark.pretraining.recipe`; the
``paper`` profile takes each method's official recipe from methods.yaml), and writes ``OUT/encoder.safetensors`` (the shared encoder interface),
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
import contextlib
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from tqdm import tqdm

from benchmark.core.atomic import atomic_dir
from benchmark.core.config import load_profile
from benchmark.core.errors import DataError
from benchmark.core.guards import check_output, has_file
from benchmark.core.numerics import configure, current, dtype
from benchmark.data import prefetch
from benchmark.data.prefetch import resolve_workers
from benchmark.data.store import Store
from benchmark.pretraining import distributed, recipe
from benchmark.pretraining.augment import build_pipeline
from benchmark.pretraining.batches import PretrainBatches
from benchmark.pretraining.checkpoint import TrainState, fingerprint, load_checkpoint, read_checkpoint_info, save_checkpoint
from benchmark.pretraining.embed import load_embeddings, read_lm_info
from benchmark.pretraining.encoders import ImageEncoder, save_encoder
from benchmark.pretraining.methods import (
    MethodSpec,
    PretrainMethod,
    TextInput,
    WeightsUnavailable,
    get_method,
    method_config,
    method_options,
    plugin_class,
)
from benchmark.pretraining.text import LMChoice, lm_parameter_count, load_lm, resolve_lm
from benchmark.pretraining.text_encoder import ReportTokens, TrainableTextEncoder

#: settings that change how fast batches arrive, never what they hold: a checkpoint stays valid across them
LOADER_SETTINGS = ("loader_workers", "prefetch_batches")
#: test hook: SIGKILL the process right after this global step (checks kill-and-resume)
KILL_AFTER_STEP_ENV = "BENCHMARK_KILL_AFTER_STEP"


@dataclass
class Reports:
    """The text side as the engine feeds it: what the method is built with, and per-batch input."""

    input: TextInput
    embeddings: torch.Tensor | None  # (n, dim) aligned with the training rows, for ``text: frozen``
    lm: dict | None  # recorded in meta.json
    labels: torch.Tensor | None = None  # (n, L) 0/1 label rows, for supervised methods

    def batch(self, idx: np.ndarray) -> torch.Tensor | None:
        if self.labels is not None:
            return self.labels[idx]
        if self.embeddings is not None:
            return self.embeddings[idx]
        if self.input.encoder is not None:
            return torch.from_numpy(idx)
        return None


def prepare_reports(spec: MethodSpec, store: Store, rows: np.ndarray, text_dir: Path, profile: dict, cfg: dict) -> Reports:
    """The reports of store ``rows``: cached embeddings (frozen LM) or tokens + a trainable LM, as the
    method's ``text`` mode says; ``cfg`` is the method's pre-training settings (token length, LM layers)."""
    if spec.text.kind == "none":
        return Reports(TextInput(), None, None)
    choice: LMChoice = resolve_lm(str(profile["lm"]["name"]))
    if spec.text.kind == "frozen":
        # checked: schema, size, SHA-256, this store's manifest and this LM (never half-read)
        embeddings, lm_info = load_embeddings(text_dir, store, choice.name)
        return Reports(TextInput(dim=int(lm_info["dim"])), torch.from_numpy(embeddings[rows]).to(dtype()),
                       {**{k: lm_info[k] for k in ("name", "source", "max_length")}, "trainable_layers": 0,
                        "parameters": lm_parameter_count(choice)})
    lm_info = read_lm_info(text_dir)  # the embed stage's LM must be the one this run trains from
    if lm_info["name"] != choice.name:
        raise DataError(text_dir / "lm.json", f"embeddings were made with {lm_info['name']}, the profile now resolves to {choice.name}")
    texts = store.manifest["text"].astype(str).iloc[rows].tolist()
    tokenizer, model = load_lm(choice, "eager" if spec.text.cls_attention else None)
    if cfg.get("lm_layers"):  # MGCA keeps the first 6 of Bio_ClinicalBERT's 12 layers
        keep = int(cfg["lm_layers"])
        if not 0 < keep <= len(model.base_model.encoder.layer):
            raise DataError(None, f"pretrain: lm_layers {keep} is not between 1 and the LM's {len(model.base_model.encoder.layer)} layers")
        model.base_model.encoder.layer = model.base_model.encoder.layer[:keep]
        model.config.num_hidden_layers = keep
    n_layers = len(model.base_model.encoder.layer)
    frozen = spec.text.resolve_frozen(n_layers, cfg.get("text_trainable_layers"))
    max_length = int(cfg.get("text_max_length", profile["lm"]["max_length"]))
    tokens = ReportTokens.from_texts(texts, tokenizer, max_length)
    start = time.perf_counter()
    cache = bool(cfg.get("cache_frozen_text", True))
    encoder = TrainableTextEncoder(model, tokens, frozen, last_n=spec.text.last_n, cls_attention=spec.text.cls_attention,
                                   cache_frozen=cache, batch_size=int(profile["lm"]["batch_size"]))
    if frozen and cache:
        print(f"pretrain: first {frozen}/{n_layers} LM layers frozen, their output cached for {len(texts)} reports "
              f"in {time.perf_counter() - start:.1f}s")
    lm = {"name": choice.name, "source": choice.source, "max_length": max_length, "layers": n_layers,
          "trainable_layers": n_layers - frozen, "parameters": sum(p.numel() for p in model.parameters())}
    return Reports(TextInput(dim=int(model.config.hidden_size), encoder=encoder), None, lm)


def prepare_labels(spec: MethodSpec, store: Store, rows: np.ndarray, cfg: dict) -> Reports:
    """The label rows a supervised method trains on: the store columns its option ``labels`` names."""
    columns = list(method_options(spec, cfg).get("labels") or [])
    missing = [c for c in columns if c not in store.manifest]
    if not columns or missing:
        raise DataError(store.path / "manifest.csv", f"method {spec.name!r} trains on label columns "
                        f"{missing or '(none named: set options.labels)'} that the store does not have "
                        "(MIMIC-CXR: mimic-cxr-2.0.0-chexpert.csv.gz in the dataset root)")
    labels = store.manifest[columns].astype(float).to_numpy()[rows]
    return Reports(TextInput(), None, None, torch.from_numpy(labels).to(dtype()))


def dense_targets(method: PretrainMethod, store: Store, cfg: dict) -> np.ndarray | None:
    """The store's masks for a method that trains on them, or None; a store without masks, or a
    recipe whose augmentations the masks cannot follow, stops the stage here (never labels only)."""
    if not method.needs_masks:
        return None
    if store.masks is None:
        raise DataError(store.path / "store.json", f"method {method.name!r} trains on finding masks (option "
                        "dense_weight) that this store does not have (only the MIMIC phantom writes "
                        "phantom-finding-masks/; set dense_weight: 0 on real data)")
    if recipe.augment_list(cfg) is not None:
        raise DataError(None, f"method {method.name!r}: finding masks follow the plain crop only, not the augment list")
    return store.masks


def initial_weights(cfg: dict, trains: bool):
    """The weights a trained method starts from: ``init: imagenet`` (the official recipes) loads
    torchvision's ``imagenet_weights`` version from the local torch hub cache, or stops the stage
    with a one-line error saying which file to put where; ``init: random`` (the CPU profiles)
    returns None and the seeded random start is recorded as such. Never a silent fallback."""
    if not trains or str(cfg.get("init", "random")) == "random":
        return None
    from benchmark.pretraining.imagenet import load_imagenet

    return load_imagenet(str(cfg["arch"]), str(cfg.get("imagenet_weights", "IMAGENET1K_V1")))


def build_method(spec: MethodSpec, cfg: dict, text: TextInput, seed: int) -> PretrainMethod:
    torch.manual_seed(seed)
    encoder = ImageEncoder(cfg["arch"], 299 if cfg.get("upsample_299") else None)
    return plugin_class(spec.plugin, spec.name)(encoder, text, method_options(spec, cfg))


def _kill_if_asked(step: int) -> None:
    if os.environ.get(KILL_AFTER_STEP_ENV) == str(step):
        os.kill(os.getpid(), signal.SIGKILL)


def train(method: PretrainMethod, images: np.ndarray, rows: np.ndarray, reports: Reports, cfg: dict, seed: int,
          ctx: distributed.Context, ckpt_dir: Path | None = None, run_fingerprint: str = "",
          masks: np.ndarray | None = None) -> pd.DataFrame:
    """Run the configured epochs over store rows ``rows``; one log row per epoch (mean of each loss term).
    ``masks`` (the store's, for a method that ``needs_masks``) reach the loss cropped like their images.

    ``images`` stays memory-mapped: each batch reads only its own rows. The global
    batch is split evenly over ``ctx.world_size`` processes. ``loader_workers`` processes make
    the batches ahead of the model (:mod:`benchmark.pretraining.batches`; the same pixels with any
    number of workers); ``channels_last`` trains in NHWC memory layout.
    """
    n = len(rows)
    per_process = cfg.get("batch_per_process")  # the official recipes give the batch of one process
    global_batch = min(int(per_process) * ctx.world_size if per_process else int(cfg["batch_size"]), n)
    if n < 2:
        raise DataError(None, f"pre-training needs at least 2 images, store has {n}")
    if global_batch % ctx.world_size:
        raise DataError(None, f"batch_size {global_batch} is not divisible by {ctx.world_size} processes")
    local = global_batch // ctx.world_size
    steps_per_epoch = n // global_batch  # drop the last partial batch: BatchNorm needs > 1 sample
    epochs = int(cfg["epochs"])
    total = steps_per_epoch * epochs
    every = int(cfg.get("checkpoint_every") or steps_per_epoch)

    method = distributed.convert_batchnorm(method, ctx).to(ctx.device)
    channels_last = bool(cfg.get("channels_last"))  # NHWC convolutions (faster with mixed precision on GPUs)
    if channels_last:
        method.to(memory_format=torch.channels_last)
    model: torch.nn.Module = method
    if ctx.distributed:
        model = torch.nn.parallel.DistributedDataParallel(method, broadcast_buffers=False)
    params = [p for p in method.parameters() if p.requires_grad]
    optim = recipe.build_optimizer(params, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, recipe.lr_multiplier(cfg, total))
    amp = recipe.amp_dtype(cfg, ctx.device)
    scaler = recipe.grad_scaler(ctx.device, amp)
    distributed.set_gather(bool(cfg.get("gather", True)))
    state = TrainState(0, {}, {}, [], {}, torch.get_rng_state())
    found = read_checkpoint_info(ckpt_dir) if ckpt_dir is not None else None
    if found is not None:
        if found.get("fingerprint") == run_fingerprint:
            state = load_checkpoint(ckpt_dir, method, run_fingerprint)
            optim.load_state_dict(state.optimizer)
            sched.load_state_dict(state.scheduler)
            torch.set_rng_state(state.rng)
            if ctx.is_main:
                print(f"pretrain {method.name}: resuming from {ckpt_dir} at step {state.step}/{total}")
        elif ctx.is_main:
            print(f"pretrain {method.name}: ignoring {ckpt_dir} (another configuration)")
            shutil.rmtree(ckpt_dir)
    plan = PretrainBatches(images, rows, local, int(cfg["input_size"]), seed, ctx.rank, ctx.world_size,
                           recipe.augment_list(cfg), masks)
    keys = [divmod(step, steps_per_epoch) for step in range(state.step, total)]
    feed = prefetch.batches(plan, keys, resolve_workers(cfg.get("loader_workers")), pin_memory=ctx.device.type == "cuda",
                            prefetch=int(cfg.get("prefetch_batches") or 4))
    method.train()
    with tqdm(total=total, initial=state.step, desc=f"pretrain {method.name}", unit="step", leave=False,
               **({} if ctx.is_main else {"disable": True})) as bar, contextlib.closing(feed):  # closed on errors too
        for epoch in range(state.step // steps_per_epoch, epochs):
            method.start_epoch(epoch)
            for s in range(state.step % steps_per_epoch, steps_per_epoch):
                torch.manual_seed(seed * 1_000_003 + state.step * 101 + ctx.rank)  # dropout in trainable LMs
                x, idx, *dense = next(feed)  # dense: the masks' crops, for a method that needs them
                x = x.to(ctx.device, non_blocking=True)
                dense = [d.to(ctx.device, non_blocking=True) for d in dense]
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                idx = idx.numpy()
                text = reports.batch(idx)
                with recipe.autocast(ctx.device, amp):
                    terms = model(x, None if text is None else text.to(ctx.device), *dense)
                if not torch.isfinite(terms["loss"].detach()):
                    raise DataError(None, f"pretrain {method.name}: the loss is not finite at step {state.step + 1} "
                                    f"({float(terms['loss'].detach())}); the run diverged, lower the learning rate")
                optim.zero_grad(set_to_none=True)
                scaler.scale(terms["loss"]).backward()
                scaler.unscale_(optim)
                recipe.clip_gradients(params, cfg)
                scaler.step(optim)
                scaler.update()
                sched.step()
                for k, v in terms.items():
                    state.sums[k] = state.sums.get(k, 0.0) + float(v.detach())
                state.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{float(terms['loss'].detach()):.3f}")
                _kill_if_asked(state.step)
                if s + 1 == steps_per_epoch:
                    row = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0]}
                    row.update({k: v / steps_per_epoch for k, v in state.sums.items()})
                    state.log.append(row)
                    state.sums = {}
                    if ctx.is_main:
                        print("pretrain " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
                if ckpt_dir is not None and state.step % every == 0 and state.step < total:
                    if ctx.is_main:
                        state.optimizer, state.scheduler, state.rng = optim.state_dict(), sched.state_dict(), torch.get_rng_state()
                        save_checkpoint(ckpt_dir, method, state, run_fingerprint)
                    if ctx.distributed:
                        torch.distributed.barrier()
    return pd.DataFrame(state.log)


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.pretrain`` does with its parsed arguments."""
    profile = load_profile(args.params, args.profile)
    cfg, seed = profile["pretrain"], int(profile["seed"])
    configure(profile)
    spec = get_method(args.method)
    ctx = distributed.init_from_env()
    try:
        return _run(args, profile, cfg, seed, spec, ctx)
    finally:
        distributed.shutdown()


def _run(args, profile: dict, cfg: dict, seed: int, spec: MethodSpec, ctx: distributed.Context) -> int:
    start = time.perf_counter()
    check_output(args.out, [args.store, args.text], "model folder", has_file("meta.json"))
    store = Store.open(args.store)
    rows = np.flatnonzero(store.manifest["official_split"].astype(str).to_numpy() == "train")
    plugin = plugin_class(spec.plugin, spec.name)
    cfg = method_config(spec, cfg)
    if plugin.trains:  # a recipe the engine cannot run stops the stage before any work
        recipe.amp_dtype(cfg, ctx.device)
        augment = recipe.augment_list(cfg)
        if augment is not None:
            build_pipeline(augment, int(cfg["input_size"]))
    start_weights = initial_weights(cfg, plugin.trains)  # before any work: a missing file stops the stage here
    if not plugin.trains:
        reports = Reports(TextInput(), None, None)
    elif plugin.needs_labels:
        reports = prepare_labels(spec, store, rows, cfg)
    else:
        reports = prepare_reports(spec, store, rows, args.text, profile, cfg)
    trains = plugin.trains
    method = build_method(spec, cfg, reports.input, seed)
    masks = dense_targets(method, store, cfg)
    base_meta = {"method": args.method, "plugin": spec.plugin, "title": spec.title, "arch": cfg["arch"], "seed": seed,
                 "profile": profile["name"], "data_kind": profile["data_kind"], "precision": current(),
                 "control": spec.control, "shuffle_labels": spec.shuffle_labels}
    init_record = {"kind": "random", "seed": seed}
    if start_weights is not None:
        loaded, init_record = start_weights
        method.encoder.load_state_dict(loaded.state_dict())
        print(f"pretrain {args.method}: starts from {init_record['file']} ({init_record['weights']}, "
              f"sha256 {init_record['sha256'][:12]}...)")
    base_meta["init"] = init_record if plugin.trains else None
    try:
        method.initialize()
    except WeightsUnavailable as why:
        # a documented outcome, not a crash: later stages carry the reason into the report
        if ctx.is_main:
            with atomic_dir(args.out) as tmp:
                (tmp / "meta.json").write_text(json.dumps({**base_meta, "unavailable": str(why)}, indent=2, sort_keys=True) + "\n")
            print(f"pretrain {args.method}: {why}")
        return 0
    base_meta["arch"] = method.encoder.arch  # a checkpoint brings its own architecture
    if getattr(method, "source", None):
        base_meta["source"] = method.source
    log = pd.DataFrame()
    ckpt_dir = args.checkpoints or args.out.with_name(args.out.name + ".ckpt")
    if trains:
        run_fp = fingerprint({"method": spec.name, "plugin": spec.plugin, "options": method_options(spec, cfg),
                              "text": spec.text.__dict__, "pretrain": {k: v for k, v in cfg.items() if k not in LOADER_SETTINGS},
                              "seed": seed, "precision": current(), "world": ctx.world_size,
                              "store": (args.store / "store.json").read_text(), "lm": reports.lm})
        log = train(method, store.images, rows, reports, cfg, seed, ctx, ckpt_dir, run_fp, masks)
    if not ctx.is_main:
        return 0
    counts = method.parameter_counts()
    if reports.lm is not None and spec.text.kind == "frozen":
        counts["frozen"] += int(reports.lm["parameters"])  # the frozen LM is part of the model, run ahead of time
    meta = {
        **base_meta,
        "lm": reports.lm,
        "pretrain_images": int(len(rows)) if trains else 0,
        "epochs": int(cfg["epochs"]) if trains else 0,
        "training": recipe.applied(cfg) if trains else None,
        "world_size": ctx.world_size,
        "parameters": counts,
        "encoder_parameters": sum(p.numel() for p in method.encoder.parameters()),
        "final_loss": float(log["loss"].iloc[-1]) if len(log) else None,
    }  # no wall time in it: the same run gives the same bytes, so DVC does not re-run what depends on them
    with atomic_dir(args.out) as tmp:
        save_encoder(method.encoder, tmp, {k: meta[k] for k in ("method", "arch", "seed", "profile", "data_kind")})
        save_file({k: v.detach().contiguous().cpu() for k, v in method.state_dict().items()}, str(tmp / "model.safetensors"))
        log.to_csv(tmp / "train_log.csv", index=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    print(f"pretrain {args.method}: {meta['pretrain_images']} images, {meta['epochs']} epochs, "
          f"{time.perf_counter() - start:.1f}s -> {args.out}")
    return 0
