"""Train and test an OpenMMLab head per dataset x fraction x seed; one result JSON each.

Called by ``python -m benchmark.segment`` / ``benchmark.detect`` when the profile's task
section says ``backend: openmmlab``. The task section's ``openmmlab`` entry names the
config (a file in ``benchmark/evaluation/openmmlab/configs``), the epochs and any ``cfg_options``
(dotted keys, as MMEngine's ``--cfg-options``); input size, batch size, seeds and
fractions are the task's own, so both backends see the same data. Runs use a temporary
work folder: the result JSON is the only output.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import torch

from benchmark.core.errors import DataError
from benchmark.evaluation.downstream import HeadRun, per_dataset
from benchmark.evaluation.openmmlab import CONFIG_DIR, openmmlab_missing
from benchmark.reporting.results import write_result

METRIC = {"segmentation": "dice", "detection": "map"}


def load_best_weights(runner, checkpoint: str | Path, work_dir: Path) -> None:
    """Load the weights of the best checkpoint this run wrote into its private work folder.

    mmengine's loader calls ``torch.load`` without ``weights_only``, which torch >= 2.6 takes
    as True, and the weights-only unpickler then refuses mmengine's own checkpoints: their
    message hub pickles HistoryBuffer statistics through ``builtins.getattr`` (allowing that
    global would let any file reach any attribute). Only the weights are needed, and this
    file was written moments ago by this process, so it alone is unpickled in full; every
    other ``torch.load`` keeps torch's safe default."""
    path = Path(checkpoint).resolve()
    if work_dir.resolve() not in path.parents:
        raise RuntimeError(f"{path} is not a checkpoint of this run (outside {work_dir})")
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    runner.model.load_state_dict(state, strict=True)


def head_name(config: str) -> str:
    return Path(config).stem


def data_paths(run: HeadRun, task: str, dataset: str) -> tuple[str, str, bool]:
    """Store, split manifest, and whether training is balanced (MGCA's SIIM rule)."""
    balance = task == "segmentation" and dataset in run.cfg.get("balance_train", [])
    return str(run.args.stores / dataset), str(run.args.splits / dataset / f"{run.args.protocol}.csv"), balance


def train_size(run: HeadRun, task: str, dataset: str, fraction: int) -> int:
    from benchmark.evaluation.openmmlab.components import store_split_rows

    store, splits, balance = data_paths(run, task, dataset)
    return len(store_split_rows(store, splits, "train", fraction, balance)[1])


def config_for(run: HeadRun, task: str, dataset: str, fraction: int, seed: int, work_dir: Path, train_images: int):
    """The MMEngine config of one run: the file, then ``cfg_options``, then this run's data,
    encoder, input size, batch size, epochs and seed."""
    from mmengine.config import Config

    spec = run.cfg["openmmlab"]
    path = CONFIG_DIR / spec["config"]
    if not path.is_file():
        raise DataError(run.args.params, f"openmmlab config {spec['config']!r} not in {CONFIG_DIR}")
    cfg = Config.fromfile(str(path))
    cfg.merge_from_dict(dict(spec.get("cfg_options") or {}))
    size = run.size(dataset)
    channels = list(run.frozen.encoder.map_channels)
    model = cfg.model
    model.backbone.checkpoint = str(run.args.encoder)
    if model.type == "EncoderDecoder":
        model.data_preprocessor.size = (size, size)
        model.decode_head.in_channels = [channels[i] for i in model.decode_head.in_index]
        model.auxiliary_head.in_channels = channels[model.auxiliary_head.in_index]
    elif model.type == "YOLOV3":
        model.neck.in_channels = [channels[i] for i in reversed(model.backbone.out_indices)]
        scale = size / 416  # the native head's rule: COCO anchors x input / 416
        gen = model.bbox_head.anchor_generator
        gen.base_sizes = [[(w * scale, h * scale) for w, h in level] for level in gen.base_sizes]
    elif model.type == "RetinaNet":
        model.neck.in_channels = [channels[i] for i in model.backbone.out_indices]
    else:
        raise DataError(path, f"model type {model.type!r}: the runner knows EncoderDecoder, YOLOV3 and RetinaNet")
    batch = per_dataset(run.cfg, "batch_size", dataset)
    store, splits, balance = data_paths(run, task, dataset)
    for split, loader in (("train", cfg.train_dataloader), ("valid", cfg.val_dataloader), ("test", cfg.test_dataloader)):
        loader.dataset.update(store=store, splits=splits, split=split, fraction=fraction if split == "train" else 100)
        if task == "segmentation":
            loader.dataset.balance = split == "train" and balance
        for step in loader.dataset.pipeline:
            if step["type"] == "Resize":
                step["scale"] = (size, size)
    # the last incomplete batch is dropped (a batch of one breaks BatchNorm), so a batch
    # larger than the training set is cut to it
    cfg.train_dataloader.batch_size = min(batch, train_images)
    bootstrap = int(run.cfg.get("bootstrap", 1000))
    cfg.val_evaluator.update(bootstrap=0, seed=seed)
    cfg.test_evaluator.update(bootstrap=bootstrap, seed=seed)
    cfg.train_cfg.max_epochs = int(spec["max_epochs"])
    if spec.get("patience"):
        cfg.custom_hooks = [*cfg.get("custom_hooks", []), dict(type="EarlyStoppingHook", monitor=METRIC[task], rule="greater",
                                                                patience=int(spec["patience"]))]
    cfg.randomness = dict(seed=seed, deterministic=False)
    cfg.work_dir = str(work_dir)
    cfg.launcher = "none"
    return cfg


def run_openmmlab(run: HeadRun, task: str) -> int:
    """Every dataset x fraction x seed of ``run`` with the configured OpenMMLab head."""
    missing = openmmlab_missing()
    if missing:
        raise DataError(run.args.params, f"{task} backend is openmmlab but {missing}")
    import mmdet
    import mmengine
    import mmseg
    from mmengine.runner import Runner

    spec = run.cfg["openmmlab"]
    head = head_name(spec["config"])
    config_sha256 = hashlib.sha256((CONFIG_DIR / spec["config"]).read_bytes()).hexdigest()
    versions = {"mmengine": mmengine.__version__, "mmdet": mmdet.__version__, "mmseg": mmseg.__version__}
    for dataset in run.args.datasets:
        for fraction in run.args.fractions:
            images = train_size(run, task, dataset, fraction)
            for seed in run.seeds:
                if images < 2:  # BatchNorm in the heads needs two samples per batch: say so, train nothing
                    path = write_result(run.args.out, run.record(
                        dataset, fraction, seed, value=None, status="unavailable", n={"train": images},
                        reason=f"{images} training image(s) at {fraction}%: an OpenMMLab head needs 2"))
                    print(f"{task} {run.args.method} {dataset} {fraction}% seed {seed} [openmmlab {head}]: "
                          f"only {images} training image(s), nothing trained -> {path}")
                    continue
                start = time.perf_counter()
                with tempfile.TemporaryDirectory(prefix="openmmlab-") as tmp:
                    cfg = config_for(run, task, dataset, fraction, seed, Path(tmp), images)
                    runner = Runner.from_cfg(cfg)
                    runner.train()
                    iterations, epochs = runner.iter, runner.epoch
                    best = runner.message_hub.get_info("best_ckpt")
                    if best is None:
                        raise RuntimeError(f"{head}: no best checkpoint after training ({dataset} {fraction}% seed {seed})")
                    load_best_weights(runner, best, Path(tmp))
                    best_valid = runner.message_hub.get_info("best_score")
                    runner.test()
                    details = runner.test_evaluator.metrics[0].details
                    n = {s: len(getattr(runner, f"{loop}_dataloader").dataset)
                         for s, loop in (("train", "train"), ("valid", "val"), ("test", "test"))}
                record = run.record(
                    dataset, fraction, seed, status="ok", **details, n=n, epochs_run=epochs,
                    iterations=iterations, best_valid=best_valid, selection=f"validation {METRIC[task]}",
                    batch_size=int(cfg.train_dataloader.batch_size), openmmlab={
                        "config": spec["config"], "config_sha256": config_sha256,
                        "cfg_options": dict(spec.get("cfg_options") or {}), "versions": versions},
                    wall_time_s=round(time.perf_counter() - start, 3))
                path = write_result(run.args.out, record)
                print(f"{task} {run.args.method} {dataset} {fraction}% seed {seed} [openmmlab {head}]: "
                      f"{METRIC[task]} {details['value']:.4f} (epochs {epochs}, iterations {iterations}) -> {path}")
    return 0
