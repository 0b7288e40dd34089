"""``python -m benchmark.detect``: YOLOv3 head on a frozen pre-trained encoder (MGCA protocol).

Three scales on the encoder's C3, C4, C5 maps (strides 8, 16, 32) joined top-down as in
YOLOv3; three anchors per scale, the COCO YOLOv3 anchors scaled by input size / 416
(224/416 in the paper profile). Loss weights: xy 2.5, wh 2.5, confidence 1, class 1. The
profile's ``variant`` picks the neck, the loss's assignment and reduction, and the decoding:
``clean`` (ours) or ``mgca`` (MGCA's detector), both in :mod:`benchmark.evaluation.yolo`;
every result records it as ``head_variant``. Inference: confidence threshold, then NMS at IoU
0.5. AdamW, model selection on validation mAP with patience (scored with a matching computed
once per epoch, :class:`benchmark.evaluation.metrics.DetectionMatches`). Test metric: mAP over
IoU 0.40:0.05:0.75 on all test images, and the ``mgca_compat`` variant that skips images
without a prediction or without a box (:func:`benchmark.evaluation.metrics.detection_map`).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmark.core.errors import DataError
from benchmark.core.numerics import dtype
from benchmark.data.store import Store
from benchmark.evaluation.downstream import EVAL_BATCH, HeadRun, MapSource, shuffled
from benchmark.evaluation.head_stage import run_head_stage
from benchmark.evaluation.metrics import DetectionMatches, score_detections
from benchmark.evaluation.training import epoch_batches, fit_early_stopping, not_converged_mark
from benchmark.evaluation.yolo import VARIANTS, YOLOv3Head, YoloVariant, anchors_for
from benchmark.reporting.results import write_result

METRIC = "map"
def boxes_at(manifest_boxes: list[str], store_size: int, size: int) -> list[torch.Tensor]:
    """Manifest boxes (JSON, store pixels) -> (M, 4) tensors in input pixels."""
    return [torch.tensor(json.loads(b or "[]"), dtype=dtype()).reshape(-1, 4) * size / store_size for b in manifest_boxes]


@torch.no_grad()
def variant_of(cfg: dict) -> YoloVariant:
    """The profile's YOLOv3 variant (``variant``: clean or mgca; clean when absent)."""
    return VARIANTS[str(cfg.get("variant", "clean"))]


def predict(head: YOLOv3Head, source: MapSource, anchors: torch.Tensor, cfg: dict,
            batch_size: int = EVAL_BATCH) -> list[dict]:
    head.eval()
    decode = variant_of(cfg).decode
    preds = []
    for s in range(0, len(source.rows), batch_size):
        preds += [{k: v.cpu() for k, v in p.items()} for p in  # scored on the CPU
                  decode(head(source.batch(source.rows[s:s + batch_size])), anchors, float(cfg["conf_threshold"]),
                         float(cfg["nms_iou"]))]
    return preds


def train_detection(head: YOLOv3Head, train: MapSource, train_boxes: list[torch.Tensor], valid: MapSource,
                    valid_boxes: list[torch.Tensor], anchors: torch.Tensor, cfg: dict, lr: float, batch_size: int,
                    seed: int) -> dict:
    """AdamW on the head; the epoch with the best validation mAP is kept (patience in epochs)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    optim = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=float(cfg["weight_decay"]))
    targets_valid = [{"boxes": b} for b in valid_boxes]
    loss_fn = variant_of(cfg).loss

    def train_epoch(epoch: int) -> float:
        head.train()
        total, seen = 0.0, 0
        for idx in epoch_batches(len(train.rows), batch_size, gen, int(cfg.get("min_steps_per_epoch", 0))):
            terms = loss_fn(head(train.batch(train.rows[idx])), [train_boxes[i] for i in idx], anchors)
            optim.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optim.step()
            total, seen = total + float(terms["loss"].detach()) * len(idx), seen + len(idx)
        return total / max(seen, 1)

    fit = fit_early_stopping(head, train_epoch,
                             lambda: DetectionMatches.compute(predict(head, valid, anchors, cfg), targets_valid).map(),
                             max_epochs=int(cfg["max_epochs"]), patience=int(cfg["patience"]), mode="max",
                             valid_metric="map", where="detection head")
    return fit.record()


def require_boxes(store: Store) -> None:
    if "boxes" not in store.manifest:
        raise DataError(store.path / "manifest.csv", "no 'boxes' column: not a detection dataset")


def run_native(run: HeadRun, out: Path) -> None:
    """Every dataset x fraction x seed of ``run`` with the YOLOv3 head (results into ``run.args.out``,
    reported as their place in ``out``)."""
    variant = variant_of(run.cfg)
    device = run.frozen.device  # the head trains where the encoder's maps are (boxes and scores come back to the CPU)
    for data in run.datasets(check=require_boxes):
        anchors = anchors_for(data.size).to(device)
        all_boxes = data.store.manifest["boxes"]
        for fraction in run.args.fractions:
            low = (run.cfg.get("low_data") or {}).get(data.name, {}) if fraction == 1 else {}
            lr, batch = float(low.get("lr", run.cfg["lr"])), int(low.get("batch_size", run.cfg["batch_size"]))
            sources = data.sources(fraction)
            boxes = {s: boxes_at(all_boxes.iloc[src.rows].tolist(), data.store.images.shape[-1], data.size)
                     for s, src in sources.items()}
            targets = [{"boxes": b} for b in boxes["test"]]
            for seed in run.seeds:
                start = time.perf_counter()
                run.frozen.start_run()  # the encoder's pre-trained BatchNorm statistics (encoder_bn: train moves them)
                torch.manual_seed(seed)
                head = YOLOv3Head(tuple(run.frozen.encoder.map_channels[1:]), tuple(run.cfg["widths"]),
                                  objectness_prior=run.cfg.get("objectness_prior"), depth=variant.depth,
                                  full_laterals=variant.full_laterals).to(device)
                train_boxes, valid_boxes = boxes["train"], boxes["valid"]
                if run.shuffle_labels:  # the negative control: boxes moved to other images
                    train_boxes, valid_boxes = shuffled(train_boxes, seed, "train"), shuffled(valid_boxes, seed, "valid")
                fit = train_detection(head, sources["train"], train_boxes, sources["valid"], valid_boxes,
                                      anchors, run.cfg, lr, batch, seed)
                preds = predict(head, sources["test"], anchors, run.cfg)
                scored = score_detections(preds, targets, int(run.cfg["bootstrap"]), seed)
                path = write_result(run.args.out, run.record(
                    data.name, fraction, seed, feature_cache_s=data.encode_s, status="ok", **scored,
                    labels_shuffled=run.shuffle_labels, n={k: int(len(v.rows)) for k, v in sources.items()},
                    lr=lr, batch_size=batch, head_variant=variant.name, input_size=data.size, **fit,
                    wall_time_s=round(time.perf_counter() - start, 3)))
                lo, hi = scored["ci95"]
                check = "" if scored["cocoeval_agrees"] else f", COCOeval gives {scored['map_cocoeval']:.6f}: recorded"
                print(f"detect {run.args.method} {data.name} {fraction}% seed {seed}: mAP {scored['value']:.4f} "
                      f"[{lo:.3f}, {hi:.3f}] (mgca_compat {scored['map_mgca_compat']:.4f}; epochs {fit['epochs_run']}, "
                      f"best {fit['best_epoch']}{not_converged_mark(fit)}{check}) -> {out / path.name} "
                      f"{run.progress.step()}")


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.detect`` does with its parsed arguments."""
    return run_head_stage(args, "detection", "yolov3", METRIC, run_native)
