"""``python -m benchmark.detect``: YOLOv3 head on a frozen pre-trained encoder (MGCA protocol).

Three scales on the encoder's C3, C4, C5 maps (strides 8, 16, 32) joined top-down as in
YOLOv3; three anchors per scale, the COCO YOLOv3 anchors scaled by input size / 416
(224/416 in the paper profile). Loss weights: xy 2.5, wh 2.5, confidence 1, class 1
(each summed over its cells and divided by the batch size); predictions whose box
overlaps a ground-truth box with IoU > 0.5 are not pushed towards "no object".
Inference: confidence threshold 0.5, then NMS at IoU 0.5 (torchvision.ops). AdamW,
model selection on validation mAP with patience (scored with a matching computed once
per epoch, :class:`benchmark.evaluation.metrics.DetectionMatches`). Test metric: mAP over IoU
0.40:0.05:0.75 on all test images, and the ``mgca_compat`` variant that skips images
without a prediction or without a box (:func:`benchmark.evaluation.metrics.detection_map`).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, nms

from benchmark.core.errors import DataError
from benchmark.core.numerics import dtype
from benchmark.data.store import Store
from benchmark.evaluation.downstream import EVAL_BATCH, HeadRun, MapSource, shuffled
from benchmark.evaluation.head_stage import run_head_stage
from benchmark.evaluation.metrics import DetectionMatches, score_detections
from benchmark.evaluation.training import epoch_batches, fit_early_stopping, not_converged_mark
from benchmark.reporting.results import write_result

METRIC = "map"
#: YOLOv3's COCO anchors (w, h) in pixels of a 416 px input; rows 0-2 stride 8, 3-5 stride 16, 6-8 stride 32
COCO_ANCHORS = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326))
STRIDES = (8, 16, 32)
LOSS_WEIGHTS = {"xy": 2.5, "wh": 2.5, "conf": 1.0, "cls": 1.0}


def anchors_for(size: int) -> torch.Tensor:
    """(9, 2) anchors for a ``size``-px input."""
    return torch.tensor(COCO_ANCHORS, dtype=dtype()) * size / 416


def _cbl(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))


class YOLOv3Head(nn.Module):
    """Top-down YOLOv3 neck + heads on (C3, C4, C5); ``forward`` returns raw (B, 3, H, W, 5 + classes) per scale."""

    def __init__(self, channels: tuple[int, int, int], widths: tuple[int, int, int], num_classes: int = 1,
                 objectness_prior: float | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        out = 3 * (5 + num_classes)
        w3, w4, w5 = widths
        self.block5 = nn.Sequential(_cbl(channels[2], w5, 1), _cbl(w5, 2 * w5, 3), _cbl(2 * w5, w5, 1))
        self.lateral5 = _cbl(w5, w4 // 2, 1)
        self.block4 = nn.Sequential(_cbl(channels[1] + w4 // 2, w4, 1), _cbl(w4, 2 * w4, 3), _cbl(2 * w4, w4, 1))
        self.lateral4 = _cbl(w4, w3 // 2, 1)
        self.block3 = nn.Sequential(_cbl(channels[0] + w3 // 2, w3, 1), _cbl(w3, 2 * w3, 3), _cbl(2 * w3, w3, 1))
        self.heads = nn.ModuleList([nn.Sequential(_cbl(w, 2 * w, 3), nn.Conv2d(2 * w, out, 1)) for w in (w3, w4, w5)])
        if objectness_prior is not None:
            # start every cell at P(object) = prior instead of 0.5: otherwise the first epochs go
            # to learning "no object" everywhere, which short (1 %, CPU) runs cannot afford
            with torch.no_grad():
                for head in self.heads:
                    head[-1].bias.view(3, 5 + num_classes)[:, 4] = math.log(objectness_prior / (1 - objectness_prior))

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        c3, c4, c5 = maps[1], maps[2], maps[3]
        p5 = self.block5(c5)
        p4 = self.block4(torch.cat([F.interpolate(self.lateral5(p5), size=c4.shape[-2:], mode="nearest"), c4], 1))
        p3 = self.block3(torch.cat([F.interpolate(self.lateral4(p4), size=c3.shape[-2:], mode="nearest"), c3], 1))
        outs = []
        for p, head in zip((p3, p4, p5), self.heads):
            y = head(p)
            b, _, h, w = y.shape
            outs.append(y.view(b, 3, 5 + self.num_classes, h, w).permute(0, 1, 3, 4, 2).contiguous())
        return outs


def _wh_iou(wh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    inter = torch.min(wh[:, None], anchors[None]).prod(-1)
    return inter / (wh.prod(-1)[:, None] + anchors.prod(-1)[None] - inter)


def _pred_boxes(raw: torch.Tensor, anchors: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, 3, H, W, 4) xyxy boxes in input pixels from raw outputs of one scale."""
    _, _, h, w, _ = raw.shape
    gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cx = (torch.sigmoid(raw[..., 0]) + gx) * stride
    cy = (torch.sigmoid(raw[..., 1]) + gy) * stride
    bw = anchors[:, 0].view(1, 3, 1, 1) * torch.exp(raw[..., 2].clamp(max=8))
    bh = anchors[:, 1].view(1, 3, 1, 1) * torch.exp(raw[..., 3].clamp(max=8))
    return torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)


def yolo_loss(outputs: list[torch.Tensor], boxes: list[torch.Tensor], anchors: torch.Tensor,
              ignore_iou: float = 0.5) -> dict[str, torch.Tensor]:
    """YOLOv3 loss for one batch; ``boxes[i]`` is (M, 4) xyxy in input pixels (M may be 0)."""
    b = outputs[0].shape[0]
    terms = {k: outputs[0].new_zeros(()) for k in LOSS_WEIGHTS}
    for s, (raw, stride) in enumerate(zip(outputs, STRIDES)):
        _, _, h, w, _ = raw.shape
        scale_anchors = anchors[3 * s:3 * s + 3]
        obj_target = torch.zeros(raw.shape[:4])
        noobj = torch.ones(raw.shape[:4], dtype=torch.bool)
        with torch.no_grad():
            pred = _pred_boxes(raw.detach(), scale_anchors, stride)
        xy_pred, xy_true, wh_pred, wh_true = [], [], [], []
        for i, gt in enumerate(boxes):
            if len(gt) == 0:
                continue
            ious = box_iou(pred[i].reshape(-1, 4), gt).amax(1).view(3, h, w)
            noobj[i] &= ious <= ignore_iou
            wh = (gt[:, 2:] - gt[:, :2]).clamp(min=1e-3)
            best = _wh_iou(wh, anchors).argmax(1)
            for j in torch.nonzero(best // 3 == s).flatten().tolist():
                a = int(best[j]) % 3
                cx, cy = float(gt[j, 0] + gt[j, 2]) / 2, float(gt[j, 1] + gt[j, 3]) / 2
                gx, gy = min(int(cx / stride), w - 1), min(int(cy / stride), h - 1)
                obj_target[i, a, gy, gx] = 1.0
                noobj[i, a, gy, gx] = False
                xy_pred.append(raw[i, a, gy, gx, :2])
                xy_true.append(torch.tensor([cx / stride - gx, cy / stride - gy]))
                wh_pred.append(raw[i, a, gy, gx, 2:4])
                wh_true.append(torch.log(wh[j] / scale_anchors[a]))
                terms["cls"] = terms["cls"] + F.binary_cross_entropy_with_logits(raw[i, a, gy, gx, 5:], torch.ones(raw.shape[-1] - 5),
                                                                                 reduction="sum")
        if xy_pred:
            terms["xy"] = terms["xy"] + F.binary_cross_entropy_with_logits(torch.stack(xy_pred), torch.stack(xy_true), reduction="sum")
            terms["wh"] = terms["wh"] + F.mse_loss(torch.stack(wh_pred), torch.stack(wh_true), reduction="sum")
        counted = (obj_target > 0) | noobj
        terms["conf"] = terms["conf"] + F.binary_cross_entropy_with_logits(raw[..., 4][counted], obj_target[counted], reduction="sum")
    terms = {k: v / b for k, v in terms.items()}
    terms["loss"] = sum(LOSS_WEIGHTS[k] * terms[k] for k in LOSS_WEIGHTS)
    return terms


@torch.no_grad()
def decode(outputs: list[torch.Tensor], anchors: torch.Tensor, conf_threshold: float = 0.5, nms_iou: float = 0.5,
           max_boxes: int = 100) -> list[dict]:
    """Boxes and scores per image after the confidence threshold and NMS."""
    per_scale_boxes, per_scale_scores = [], []
    for s, (raw, stride) in enumerate(zip(outputs, STRIDES)):
        boxes = _pred_boxes(raw, anchors[3 * s:3 * s + 3], stride)
        scores = torch.sigmoid(raw[..., 4]) * torch.sigmoid(raw[..., 5:]).amax(-1)
        per_scale_boxes.append(boxes.flatten(1, 3))
        per_scale_scores.append(scores.flatten(1))
    all_boxes, all_scores = torch.cat(per_scale_boxes, 1), torch.cat(per_scale_scores, 1)
    out = []
    for bx, sc in zip(all_boxes, all_scores):
        keep = sc >= conf_threshold
        bx, sc = bx[keep], sc[keep]
        keep = nms(bx, sc, nms_iou)[:max_boxes]
        out.append({"boxes": bx[keep], "scores": sc[keep]})
    return out


def boxes_at(manifest_boxes: list[str], store_size: int, size: int) -> list[torch.Tensor]:
    """Manifest boxes (JSON, store pixels) -> (M, 4) tensors in input pixels."""
    return [torch.tensor(json.loads(b or "[]"), dtype=dtype()).reshape(-1, 4) * size / store_size for b in manifest_boxes]


@torch.no_grad()
def predict(head: YOLOv3Head, source: MapSource, anchors: torch.Tensor, cfg: dict,
            batch_size: int = EVAL_BATCH) -> list[dict]:
    head.eval()
    preds = []
    for s in range(0, len(source.rows), batch_size):
        preds += decode(head(source.batch(source.rows[s:s + batch_size])), anchors, float(cfg["conf_threshold"]),
                        float(cfg["nms_iou"]))
    return preds


def train_detection(head: YOLOv3Head, train: MapSource, train_boxes: list[torch.Tensor], valid: MapSource,
                    valid_boxes: list[torch.Tensor], anchors: torch.Tensor, cfg: dict, lr: float, batch_size: int,
                    seed: int) -> dict:
    """AdamW on the head; the epoch with the best validation mAP is kept (patience in epochs)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    optim = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=float(cfg["weight_decay"]))
    targets_valid = [{"boxes": b} for b in valid_boxes]

    def train_epoch(epoch: int) -> float:
        head.train()
        total, seen = 0.0, 0
        for idx in epoch_batches(len(train.rows), batch_size, gen, int(cfg.get("min_steps_per_epoch", 0))):
            terms = yolo_loss(head(train.batch(train.rows[idx])), [train_boxes[i] for i in idx], anchors)
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
    for data in run.datasets(check=require_boxes):
        anchors = anchors_for(data.size)
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
                                  objectness_prior=run.cfg.get("objectness_prior"))
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
                    lr=lr, batch_size=batch, **fit, wall_time_s=round(time.perf_counter() - start, 3)))
                lo, hi = scored["ci95"]
                check = "" if scored["cocoeval_agrees"] else f", COCOeval gives {scored['map_cocoeval']:.6f}: recorded"
                print(f"detect {run.args.method} {data.name} {fraction}% seed {seed}: mAP {scored['value']:.4f} "
                      f"[{lo:.3f}, {hi:.3f}] (mgca_compat {scored['map_mgca_compat']:.4f}; epochs {fit['epochs_run']}, "
                      f"best {fit['best_epoch']}{not_converged_mark(fit)}{check}) -> {out / path.name} "
                      f"{run.progress.step()}")


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.detect`` does with its parsed arguments."""
    return run_head_stage(args, "detection", "yolov3", METRIC, run_native)
