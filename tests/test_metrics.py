"""Dice and detection mAP on hand-made cases, against torchmetrics where it defines the same quantity."""

import numpy as np
import pytest
import torch
from torchmetrics.detection import MeanAveragePrecision
from torchmetrics.segmentation import DiceScore

from benchmark.metrics import (
    MGCA_IOU_THRESHOLDS,
    DetectionMatches,
    detection_map,
    dice,
    dice_per_image,
    mean_dice_fg_bg,
)


def _square(size=8, top=2, left=2, side=3):
    m = torch.zeros(size, size)
    m[top:top + side, left:left + side] = 1
    return m


def test_dice_perfect_and_empty_cases():
    gt = torch.stack([_square(), torch.zeros(8, 8), torch.zeros(8, 8)])
    pred = torch.stack([_square(), torch.zeros(8, 8), _square(side=1)])
    per = dice_per_image(pred, gt)
    assert per.tolist() == [1.0, 1.0, 0.0]  # perfect; empty/empty = 1; false positive on an empty image = 0
    assert dice(pred, gt) == pytest.approx(2 / 3)


def test_dice_partial_overlap_hand_computed_and_torchmetrics():
    gt = _square(side=4).unsqueeze(0)  # 16 pixels
    prob = _square(left=4, side=4).unsqueeze(0) * 0.9  # shifted right by 2 columns: overlap 4 x 2 = 8
    assert dice(prob, gt) == pytest.approx(2 * 8 / (16 + 16))
    assert dice(prob * 0.5, gt) == 0.0  # below the 0.5 threshold: predicts nothing
    tm = DiceScore(num_classes=2, include_background=False, average="micro", input_format="index")
    tm.update((prob >= 0.5).long(), gt.long())
    assert dice(prob, gt) == pytest.approx(float(tm.compute()), abs=1e-6)


def test_mean_dice_fg_bg_is_the_global_two_class_dice():
    gt = torch.stack([_square(side=4), torch.zeros(8, 8)])
    pred = torch.stack([_square(left=4, side=4), _square(side=2)])
    # foreground: 2*8 / (16 + 4 + 16); background: 2*(128-16-... computed from counts
    fg = 2 * 8 / (20 + 16)
    bg_pred, bg_true = 128 - 20, 128 - 16
    bg_inter = 128 - (20 + 16 - 8)
    expected = (fg + 2 * bg_inter / (bg_pred + bg_true)) / 2
    assert mean_dice_fg_bg(pred, gt) == pytest.approx(expected)
    tm = DiceScore(num_classes=2, include_background=True, average="macro", input_format="index",
                   aggregation_level="global")
    tm.update(pred.long(), gt.long())
    assert mean_dice_fg_bg(pred, gt) == pytest.approx(float(tm.compute()), abs=1e-6)
    assert mean_dice_fg_bg(pred, gt) > dice(pred, gt)  # the background inflates it


def _boxes(*rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


def test_map_thresholds_are_the_protocol():
    assert MGCA_IOU_THRESHOLDS == (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


def test_map_perfect_prediction_is_one():
    targets = [{"boxes": _boxes([10, 10, 50, 50])}, {"boxes": _boxes([0, 0, 20, 30], [40, 40, 60, 60])}]
    preds = [{"boxes": t["boxes"], "scores": torch.ones(len(t["boxes"]))} for t in targets]
    assert detection_map(preds, targets) == pytest.approx(1.0)


def test_map_shifted_box_counts_only_at_low_iou():
    # a 40x40 box shifted by 10 px: IoU = 30*40 / (2*1600 - 1200) = 0.6
    targets = [{"boxes": _boxes([10, 10, 50, 50])}]
    preds = [{"boxes": _boxes([20, 10, 60, 50]), "scores": torch.tensor([0.9])}]
    # a hit at IoU 0.40 ... 0.60 (5 of 8 thresholds), a miss above
    assert detection_map(preds, targets) == pytest.approx(5 / 8)
    reference = MeanAveragePrecision(box_format="xyxy", iou_thresholds=list(MGCA_IOU_THRESHOLDS))
    reference.update([{**preds[0], "labels": torch.tensor([0])}], [{**targets[0], "labels": torch.tensor([0])}])
    assert detection_map(preds, targets) == pytest.approx(float(reference.compute()["map"]))


def test_false_positives_on_negative_images_lower_map_unless_mgca_compat():
    targets = [{"boxes": _boxes([10, 10, 50, 50])}, {"boxes": _boxes()}]
    preds = [{"boxes": _boxes([10, 10, 50, 50]), "scores": torch.tensor([0.5])},
             {"boxes": _boxes([0, 0, 30, 30]), "scores": torch.tensor([0.9])}]  # confident false positive
    full = detection_map(preds, targets)
    # ranked: FP (0.9) then TP (0.5): precision 1/2 at recall 1 -> COCO 101-point AP = 0.5
    assert full == pytest.approx(0.5)
    assert detection_map(preds, targets, mgca_compat=True) == pytest.approx(1.0)  # the negative image is skipped


def test_missed_images_are_skipped_by_mgca_compat_only():
    targets = [{"boxes": _boxes([10, 10, 50, 50])}, {"boxes": _boxes([60, 60, 90, 90])}]
    preds = [{"boxes": _boxes([10, 10, 50, 50]), "scores": torch.tensor([0.8])}, {"boxes": _boxes(), "scores": torch.zeros(0)}]
    assert detection_map(preds, targets) == pytest.approx(0.5, abs=0.01)  # recall 1/2
    assert detection_map(preds, targets, mgca_compat=True) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2 predictions for 1 images"):
        detection_map(preds, targets[:1])


def _random_scenes(n: int, seed: int):
    """Images with 0-3 boxes and 0-6 predictions: jittered copies of the boxes plus strays."""
    gen = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(n):
        m = int(torch.randint(0, 4, (1,), generator=gen))
        xy = torch.rand(m, 2, generator=gen) * 40
        true = torch.cat([xy, xy + 5 + torch.rand(m, 2, generator=gen) * 20], 1)
        copies = true[torch.randint(0, max(m, 1), (int(torch.randint(0, 4, (1,), generator=gen)),), generator=gen)] \
            if m else torch.zeros(0, 4)
        copies = copies + (torch.rand(copies.shape, generator=gen) - 0.5) * 4  # |shift| < 2 px: stays a box
        sxy = torch.rand(int(torch.randint(0, 3, (1,), generator=gen)), 2, generator=gen) * 40
        strays = torch.cat([sxy, sxy + 10], 1)
        boxes = torch.cat([copies, strays])
        preds.append({"boxes": boxes, "scores": torch.rand(len(boxes), generator=gen)})
        targets.append({"boxes": true})
    return preds, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precomputed_matches_give_torchmetrics_map(seed):
    preds, targets = _random_scenes(80, seed)
    matches = DetectionMatches.compute(preds, targets)
    assert matches.map() == pytest.approx(detection_map(preds, targets), abs=1e-6)
    # a bootstrap resample, with repeated images, is scored as if those images were listed twice
    idx = np.random.default_rng(seed).integers(0, len(preds), len(preds))
    expected = detection_map([preds[i] for i in idx], [targets[i] for i in idx])
    assert matches.map(idx) == pytest.approx(expected, abs=1e-6)
    # the mgca_compat subset is a list of images too
    kept = [i for i, (p, t) in enumerate(zip(preds, targets)) if len(p["boxes"]) and len(t["boxes"])]
    assert matches.map(kept) == pytest.approx(detection_map(preds, targets, mgca_compat=True), abs=1e-6)


def test_inverted_boxes_are_refused():
    with pytest.raises(ValueError, match="inverted"):
        DetectionMatches.compute([{"boxes": torch.tensor([[5.0, 5, 2, 9]]), "scores": torch.tensor([0.9])}],
                                 [{"boxes": torch.tensor([[1.0, 1, 4, 4]])}])


def test_rank_auroc_equals_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    from benchmark.metrics import auroc

    rng = np.random.default_rng(0)
    for n in (5, 40, 300):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        score = np.round(rng.normal(size=n), 1)  # rounded: many ties
        assert auroc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert auroc([0, 0, 1], [0.1, 0.4, 0.35]) == pytest.approx(0.5)  # by hand: 1 of 2 pairs ordered
    assert np.isnan(auroc([1, 1], [0.2, 0.3]))
