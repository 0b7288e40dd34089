"""Segmentation and detection metrics of the MGCA protocol, on plain tensors and lists.

- :func:`dice`: mean over test images of the per-image Dice at threshold 0.5, where an
  image with empty ground truth scores 1 if the prediction is empty too and 0 otherwise
  (the paper's Table 2 metric).
- :func:`mean_dice_fg_bg`: Dice of the foreground and of the background class, each
  accumulated over the whole test set, averaged over the two classes (the "mDice" that
  BenchX reports through MMSegmentation). It is much higher than :func:`dice` on
  pneumothorax-like data, where the background dominates: never compare the two.
- :func:`detection_map`: class-agnostic COCO-style mAP (torchmetrics'
  ``MeanAveragePrecision``) averaged over IoU 0.40:0.05:0.75, over all test images;
  ``mgca_compat=True`` reproduces the reference code, which leaves out images without a
  prediction or without a ground-truth box.
- :class:`DetectionMatches`: the same mAP from a matching done once per image, so that
  bootstrap resamples and per-epoch validation do not re-run the whole evaluation; it
  follows the COCO rules torchmetrics applies and is tested against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

#: IoU thresholds of the MGCA detection protocol: 0.40, 0.45, ..., 0.75
MGCA_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.40 + 0.05 * i, 2) for i in range(8))


def _binary(masks: torch.Tensor, threshold: float) -> torch.Tensor:
    masks = torch.as_tensor(masks)
    return masks >= threshold if masks.is_floating_point() else masks.bool()


def dice_per_image(pred_masks: torch.Tensor, true_masks: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """(N,) Dice per image of (N, H, W) predictions (probabilities or 0/1) against 0/1 ground truth."""
    pred, true = _binary(pred_masks, threshold), _binary(true_masks, 0.5)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != ground-truth shape {tuple(true.shape)}")
    dims = tuple(range(1, pred.dim()))
    inter = (pred & true).sum(dims).double()
    total = pred.sum(dims).double() + true.sum(dims).double()
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))


def dice(pred_masks: torch.Tensor, true_masks: torch.Tensor, threshold: float = 0.5) -> float:
    """Mean per-image Dice (see the module docstring for empty ground truth)."""
    return float(dice_per_image(pred_masks, true_masks, threshold).mean())


def mean_dice_fg_bg(pred_masks: torch.Tensor, true_masks: torch.Tensor, threshold: float = 0.5) -> float:
    """Mean over {background, foreground} of the Dice accumulated over all pixels of all images (BenchX's mDice)."""
    pred, true = _binary(pred_masks, threshold), _binary(true_masks, 0.5)
    scores = []
    for p, t in ((pred, true), (~pred, ~true)):
        total = p.sum().double() + t.sum().double()
        scores.append(2 * (p & t).sum().double() / total if total > 0 else torch.tensor(1.0, dtype=torch.float64))
    return float(sum(scores) / 2)


def detection_map(preds: Sequence[dict], targets: Sequence[dict],
                  iou_thresholds: Sequence[float] = MGCA_IOU_THRESHOLDS, mgca_compat: bool = False) -> float:
    """Class-agnostic mAP averaged over ``iou_thresholds``.

    ``preds[i]`` = {"boxes": (K, 4) xyxy, "scores": (K,)}, ``targets[i]`` = {"boxes": (M, 4) xyxy},
    one entry per test image (an image with no boxes has empty tensors). Returns a
    fraction in [0, 1]; 0 when no image is left to score.
    """
    from torchmetrics.detection import MeanAveragePrecision

    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} predictions for {len(targets)} images")
    kept_p, kept_t = [], []
    for p, t in zip(preds, targets):
        boxes_p = torch.as_tensor(p["boxes"], dtype=torch.float32).reshape(-1, 4)
        boxes_t = torch.as_tensor(t["boxes"], dtype=torch.float32).reshape(-1, 4)
        if mgca_compat and (len(boxes_p) == 0 or len(boxes_t) == 0):
            continue
        kept_p.append({"boxes": boxes_p, "scores": torch.as_tensor(p["scores"], dtype=torch.float32).reshape(-1),
                       "labels": torch.zeros(len(boxes_p), dtype=torch.long)})
        kept_t.append({"boxes": boxes_t, "labels": torch.zeros(len(boxes_t), dtype=torch.long)})
    if not kept_p:
        return 0.0
    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", iou_thresholds=list(iou_thresholds))
    metric.update(kept_p, kept_t)
    value = float(metric.compute()["map"])
    return max(value, 0.0)  # torchmetrics reports -1 when no ground-truth box exists at all


def auroc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve of binary labels, from ranks (Mann-Whitney U, ties averaged).

    Equal to scikit-learn's ``roc_auc_score`` (tested) without its input checks, which cost
    ~1 ms a call: the bootstrap of a five-label CheXpert probe makes 5,000 calls per run.
    NaN when ``y_true`` holds one class only."""
    from scipy.stats import rankdata

    y_true = np.asarray(y_true).reshape(-1) > 0.5
    positives = int(y_true.sum())
    negatives = len(y_true) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = rankdata(np.asarray(y_score, dtype=np.float64).reshape(-1))
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


#: COCO's recall grid for the interpolated precision (101 points)
RECALL_GRID = np.linspace(0.0, 1.0, 101)


@dataclass
class DetectionMatches:
    """COCO matching of each image's predictions to its boxes at every IoU threshold.

    The mAP of any list of images (a bootstrap resample, with repeats) then needs only a
    sort of the kept predictions: ``matches.map(indices)``. Rules as in COCO evaluation
    (single class, area range "all", at most ``max_dets`` predictions per image by score):
    a prediction matches the unmatched box of highest IoU if that IoU reaches the
    threshold; precision is made monotone and read at 101 recall points.
    """

    scores: list[np.ndarray]  # per image, (K,) in descending order
    hits: list[np.ndarray]  # per image, (thresholds, K) bool: prediction k matched at threshold t
    n_true: np.ndarray  # per image, number of ground-truth boxes
    iou_thresholds: tuple[float, ...]

    @classmethod
    def compute(cls, preds: Sequence[dict], targets: Sequence[dict],
                iou_thresholds: Sequence[float] = MGCA_IOU_THRESHOLDS, max_dets: int = 100) -> "DetectionMatches":
        if len(preds) != len(targets):
            raise ValueError(f"{len(preds)} predictions for {len(targets)} images")
        thresholds = np.asarray(iou_thresholds, dtype=np.float64)
        scores, hits, n_true = [], [], []
        for p, t in zip(preds, targets):
            boxes_p = torch.as_tensor(p["boxes"], dtype=torch.float64).reshape(-1, 4)
            boxes_t = torch.as_tensor(t["boxes"], dtype=torch.float64).reshape(-1, 4)
            for boxes in (boxes_p, boxes_t):
                if (boxes[:, 2:] < boxes[:, :2]).any():
                    raise ValueError("inverted box (x2 < x1 or y2 < y1); boxes are xyxy")
            s = np.asarray(torch.as_tensor(p["scores"], dtype=torch.float64).reshape(-1))
            order = np.argsort(-s, kind="mergesort")[:max_dets]
            s = s[order]
            hit = np.zeros((len(thresholds), len(s)), dtype=bool)
            if len(s) and len(boxes_t):
                ious = box_iou(boxes_p[torch.from_numpy(order)], boxes_t).numpy()
                for ti, thr in enumerate(thresholds):
                    taken = np.zeros(len(boxes_t), dtype=bool)
                    for k in range(len(s)):
                        candidates = np.where(~taken & (ious[k] >= min(thr, 1 - 1e-10)))[0]
                        if len(candidates):
                            # the highest IoU wins; on a tie COCO keeps the later box
                            best = candidates[::-1][np.argmax(ious[k, candidates[::-1]])]
                            taken[best], hit[ti, k] = True, True
            scores.append(s)
            hits.append(hit)
            n_true.append(len(boxes_t))
        return cls(scores, hits, np.asarray(n_true), tuple(float(x) for x in thresholds))

    def map(self, images: Sequence[int] | np.ndarray | None = None) -> float:
        """mAP over the given images (default: all, in order); 0 when they hold no box."""
        images = np.arange(len(self.scores)) if images is None else np.asarray(images, dtype=np.int64)
        n_true = int(self.n_true[images].sum()) if len(images) else 0
        if n_true == 0:
            return 0.0
        scores = np.concatenate([self.scores[i] for i in images])
        hits = np.concatenate([self.hits[i] for i in images], axis=1)
        order = np.argsort(-scores, kind="mergesort")
        hits = hits[:, order]
        aps = []
        for row in hits:
            tp, fp = np.cumsum(row), np.cumsum(~row)
            recall = tp / n_true
            precision = tp / (tp + fp + np.spacing(1))
            precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
            at = np.searchsorted(recall, RECALL_GRID, side="left")
            q = np.zeros(len(RECALL_GRID))
            valid = at < len(precision)
            q[valid] = precision[at[valid]]
            aps.append(q.mean())
        return float(np.mean(aps))
