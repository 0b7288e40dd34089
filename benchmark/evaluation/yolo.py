"""YOLOv3 on the encoder's C3-C5 maps: anchors, the head, and two variants of loss and decoding.

``clean`` (ours): each box is assigned once, to the best of all nine anchors; a prediction whose
box already overlaps a ground-truth box (IoU > 0.5) is not pushed towards "no object"; every term
is summed over its cells and divided by the batch size; a detection's score is objectness x class
probability; torchvision's NMS; at most 100 boxes per image.

``mgca`` (MGCA's detector, ``mgca/utils/yolo_loss.py``, ``mgca/models/ssl_detector.py``): each
box is assigned at every scale, to the best of that scale's three anchors; the "ignore" rule
compares the box's shape with the anchors' shapes (IoU > 0.5, with the reference code's +1 pixel
convention, here in grid cells), not with the predicted boxes; "no object" cells weigh 0.5; each
term is a mean over all of a scale's cells (B x 3 x H x W) and the three scales are added; the
score is objectness alone; NMS uses the same +1 IoU and keeps every box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_iou, nms

from benchmark.core.numerics import dtype

#: YOLOv3's COCO anchors (w, h) in pixels of a 416 px input; rows 0-2 stride 8, 3-5 stride 16, 6-8 stride 32
COCO_ANCHORS = ((10, 13), (16, 30), (33, 23), (30, 61), (62, 45), (59, 119), (116, 90), (156, 198), (373, 326))
STRIDES = (8, 16, 32)
LOSS_WEIGHTS = {"xy": 2.5, "wh": 2.5, "conf": 1.0, "cls": 1.0}


def anchors_for(size: int) -> torch.Tensor:
    """(9, 2) anchors for a ``size``-px input."""
    return torch.tensor(COCO_ANCHORS, dtype=dtype()) * size / 416


def _cbl(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1))


def _stage(cin: int, width: int, depth: int) -> nn.Sequential:
    """1x1 to ``width``, then alternating 3x3 (2 x width) and 1x1 (width) convolutions: ``depth`` in all."""
    layers = [_cbl(cin, width, 1)]
    for _ in range((depth - 1) // 2):
        layers += [_cbl(width, 2 * width, 3), _cbl(2 * width, width, 1)]
    return nn.Sequential(*layers)


class YOLOv3Head(nn.Module):
    """Top-down YOLOv3 neck + heads on (C3, C4, C5); ``forward`` returns raw (B, 3, H, W, 5 + classes) per scale.

    ``depth`` 3 with laterals at half the next width is our compact neck; ``depth`` 5 with
    ``full_laterals`` is the reference YOLOv3 neck that MGCA's detector uses (five convolutions
    per stage, laterals 512 -> 256 -> 128 at the paper's widths)."""

    def __init__(self, channels: tuple[int, int, int], widths: tuple[int, int, int], num_classes: int = 1,
                 objectness_prior: float | None = None, depth: int = 3, full_laterals: bool = False) -> None:
        super().__init__()
        if depth not in (3, 5):
            raise ValueError(f"depth: 3 or 5 convolutions per stage, got {depth}")
        self.num_classes = num_classes
        out = 3 * (5 + num_classes)
        w3, w4, w5 = widths
        l5, l4 = (w4, w3) if full_laterals else (w4 // 2, w3 // 2)
        self.block5 = _stage(channels[2], w5, depth)
        self.lateral5 = _cbl(w5, l5, 1)
        self.block4 = _stage(channels[1] + l5, w4, depth)
        self.lateral4 = _cbl(w4, l4, 1)
        self.block3 = _stage(channels[0] + l4, w3, depth)
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
    gy, gx = torch.meshgrid(torch.arange(h, device=raw.device), torch.arange(w, device=raw.device), indexing="ij")
    cx = (torch.sigmoid(raw[..., 0]) + gx) * stride
    cy = (torch.sigmoid(raw[..., 1]) + gy) * stride
    bw = anchors[:, 0].view(1, 3, 1, 1) * torch.exp(raw[..., 2].clamp(max=8))
    bh = anchors[:, 1].view(1, 3, 1, 1) * torch.exp(raw[..., 3].clamp(max=8))
    return torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1)


def yolo_loss(outputs: list[torch.Tensor], boxes: list[torch.Tensor], anchors: torch.Tensor,
              ignore_iou: float = 0.5) -> dict[str, torch.Tensor]:
    """YOLOv3 loss for one batch; ``boxes[i]`` is (M, 4) xyxy in input pixels (M may be 0)."""
    b, device = outputs[0].shape[0], outputs[0].device
    boxes = [gt.to(device) for gt in boxes]
    terms = {k: outputs[0].new_zeros(()) for k in LOSS_WEIGHTS}
    for s, (raw, stride) in enumerate(zip(outputs, STRIDES)):
        _, _, h, w, _ = raw.shape
        scale_anchors = anchors[3 * s:3 * s + 3]
        obj_target = torch.zeros(raw.shape[:4], device=device)
        noobj = torch.ones(raw.shape[:4], dtype=torch.bool, device=device)
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
                xy_true.append(torch.tensor([cx / stride - gx, cy / stride - gy], device=device))
                wh_pred.append(raw[i, a, gy, gx, 2:4])
                wh_true.append(torch.log(wh[j] / scale_anchors[a]))
                cls_target = torch.ones(raw.shape[-1] - 5, device=device)
                terms["cls"] = terms["cls"] + F.binary_cross_entropy_with_logits(raw[i, a, gy, gx, 5:], cls_target, reduction="sum")
        if xy_pred:
            terms["xy"] = terms["xy"] + F.binary_cross_entropy_with_logits(torch.stack(xy_pred), torch.stack(xy_true), reduction="sum")
            terms["wh"] = terms["wh"] + F.mse_loss(torch.stack(wh_pred), torch.stack(wh_true), reduction="sum")
        counted = (obj_target > 0) | noobj
        terms["conf"] = terms["conf"] + F.binary_cross_entropy_with_logits(raw[..., 4][counted], obj_target[counted], reduction="sum")
    terms = {k: v / b for k, v in terms.items()}
    terms["loss"] = sum(LOSS_WEIGHTS[k] * terms[k] for k in LOSS_WEIGHTS)
    return terms


def _threshold_and_suppress(outputs: list[torch.Tensor], anchors: torch.Tensor,
                            score: Callable[[torch.Tensor], torch.Tensor], conf_threshold: float,
                            suppress: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> list[dict]:
    """Boxes of every scale scored by ``score`` (of one scale's raw outputs), those at or above
    ``conf_threshold`` per image, then the indices ``suppress`` keeps (an NMS)."""
    boxes = torch.cat([_pred_boxes(raw, anchors[3 * s:3 * s + 3], stride).flatten(1, 3)
                       for s, (raw, stride) in enumerate(zip(outputs, STRIDES))], 1)
    scores = torch.cat([score(raw).flatten(1) for raw in outputs], 1)
    out = []
    for bx, sc in zip(boxes, scores):
        keep = sc >= conf_threshold
        bx, sc = bx[keep], sc[keep]
        keep = suppress(bx, sc)
        out.append({"boxes": bx[keep], "scores": sc[keep]})
    return out


@torch.no_grad()
def decode(outputs: list[torch.Tensor], anchors: torch.Tensor, conf_threshold: float = 0.5, nms_iou: float = 0.5,
           max_boxes: int = 100) -> list[dict]:
    """Boxes and scores (objectness x class) per image after the confidence threshold and NMS."""
    return _threshold_and_suppress(outputs, anchors,
                                   lambda raw: torch.sigmoid(raw[..., 4]) * torch.sigmoid(raw[..., 5:]).amax(-1),
                                   conf_threshold, lambda bx, sc: nms(bx, sc, nms_iou)[:max_boxes])


def _shape_iou_plus_one(wh: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """IoU of a (w, h) box with each (3, 2) anchor shape, both at the origin, as MGCA's ``bbox_iou``
    computes it: every side counts one unit more (the reference code's +1 pixel convention)."""
    inter = (torch.min(wh[None], anchors) + 1).prod(-1)
    return inter / ((wh + 1).prod() + (anchors + 1).prod(-1) - inter + 1e-16)


def yolo_loss_mgca(outputs: list[torch.Tensor], boxes: list[torch.Tensor], anchors: torch.Tensor,
                   ignore_iou: float = 0.5, noobj_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """MGCA's YOLOv3 loss for one batch (see the module docstring); ``boxes[i]`` is (M, 4) xyxy in
    input pixels. Written with logits (BCE-with-logits, softplus) instead of BCE on sigmoids; the
    two agree wherever the sigmoid is not saturated at float precision."""
    terms = {k: outputs[0].new_zeros(()) for k in LOSS_WEIGHTS}
    for s, (raw, stride) in enumerate(zip(outputs, STRIDES)):
        b, na, h, w, attrs = raw.shape
        # the targets are built on the CPU, box by box, and moved to the outputs' device once per scale
        grid_anchors = anchors[3 * s:3 * s + 3].cpu() / stride
        positive = torch.zeros(raw.shape[:4], dtype=torch.bool)
        noobj = torch.ones(raw.shape[:4], dtype=torch.bool)
        t_xy, t_wh = torch.zeros(*raw.shape[:4], 2), torch.zeros(*raw.shape[:4], 2)
        for i, gt in enumerate(boxes):
            for box in gt.tolist():
                cx, cy = (box[0] + box[2]) / 2 / stride, (box[1] + box[3]) / 2 / stride
                wh = torch.tensor([(box[2] - box[0]) / stride, (box[3] - box[1]) / stride])
                gi, gj = min(int(cx), w - 1), min(int(cy), h - 1)  # the reference code has no clamp
                ious = _shape_iou_plus_one(wh, grid_anchors)
                noobj[i, ious > ignore_iou, gj, gi] = False
                a = int(torch.argmax(ious))
                positive[i, a, gj, gi] = True
                t_xy[i, a, gj, gi] = torch.tensor([cx - gi, cy - gj])
                t_wh[i, a, gj, gi] = torch.log(wh / grid_anchors[a] + 1e-16)
        cells = float(b * na * h * w)
        positive, noobj = positive.to(raw.device), noobj.to(raw.device)
        t_xy, t_wh = t_xy.to(raw.device), t_wh.to(raw.device)
        pos = raw[positive]
        terms["xy"] = terms["xy"] + F.binary_cross_entropy_with_logits(pos[:, :2], t_xy[positive], reduction="sum") / cells
        terms["wh"] = terms["wh"] + F.mse_loss(pos[:, 2:4], t_wh[positive], reduction="sum") / cells
        terms["conf"] = terms["conf"] + (-F.logsigmoid(pos[:, 4]).sum()
                                         + noobj_weight * F.softplus(raw[..., 4][noobj]).sum()) / cells
        terms["cls"] = terms["cls"] + F.binary_cross_entropy_with_logits(
            pos[:, 5:], torch.ones_like(pos[:, 5:]), reduction="sum") / (cells * (attrs - 5))
    terms["loss"] = sum(LOSS_WEIGHTS[k] * terms[k] for k in LOSS_WEIGHTS)
    return terms


@torch.no_grad()
def decode_mgca(outputs: list[torch.Tensor], anchors: torch.Tensor, conf_threshold: float = 0.5,
                nms_iou: float = 0.5) -> list[dict]:
    """MGCA's decoding: objectness is the score, NMS with the +1 pixel IoU, every surviving box kept."""
    return _threshold_and_suppress(outputs, anchors, lambda raw: torch.sigmoid(raw[..., 4]), conf_threshold,
                                   lambda bx, sc: nms_plus_one(bx, sc, nms_iou))


def nms_plus_one(boxes: torch.Tensor, scores: torch.Tensor, iou: float) -> torch.Tensor:
    """Indices kept by NMS under the reference code's IoU, where a box [x1, x2] spans x2 - x1 + 1
    pixels: torchvision's IoU of the boxes widened by one pixel on the right and bottom."""
    return nms(boxes + torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=boxes.dtype, device=boxes.device), scores, iou)


@dataclass(frozen=True)
class YoloVariant:
    """What a detection protocol fixes about YOLOv3: the neck's shape, the loss and the decoding."""

    name: str
    depth: int
    full_laterals: bool
    loss: Callable[..., dict[str, torch.Tensor]]
    decode: Callable[..., list[dict]]


VARIANTS = {
    "clean": YoloVariant("clean", 3, False, yolo_loss, decode),
    "mgca": YoloVariant("mgca", 5, True, yolo_loss_mgca, decode_mgca),
}
