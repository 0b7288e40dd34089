"""Dice and detection mAP on hand-made cases, against the reference libraries (torchmetrics for Dice,
pycocotools' COCOeval for mAP)."""

import numpy as np
import pytest
import torch
from torchmetrics.segmentation import DiceScore

from benchmark.evaluation.metrics import (
    MGCA_IOU_THRESHOLDS,
    DetectionMatches,
    bootstrap_map_ci,
    box_prior,
    cocoeval_map,
    detection_floors,
    detection_map,
    dice,
    dice_per_image,
    empty_mask_breakdown,
    mean_dice_fg_bg,
    score_detections,
    segmentation_floors,
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
    assert cocoeval_map(preds, targets) == pytest.approx(5 / 8)


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


def _random_case(rng: np.random.Generator) -> tuple[list[dict], list[dict]]:
    """A few images with 0-3 boxes and 0-5 predictions each, built to hit COCO's edge cases:
    integer coordinates on a small canvas (boxes that touch, share edges or coincide), scores
    drawn from a few values (ties within and across images), images without boxes, images
    without predictions, and now and then one image with many boxes and predictions."""
    preds, targets = [], []
    for _ in range(int(rng.integers(1, 6))):
        many = rng.random() < 0.1
        m = int(rng.integers(5, 25)) if many else int(rng.integers(0, 4))
        xy = rng.integers(0, 12, (m, 2))
        true = np.concatenate([xy, xy + rng.integers(1, 6, (m, 2))], 1).astype(np.float64)
        k = int(rng.integers(m, 3 * m + 2)) if many else int(rng.integers(0, 6))
        pick = rng.integers(0, max(m, 1), k)
        base = true[pick] if m else np.zeros((k, 4))
        jitter = rng.integers(-1, 2, (k, 4)) * (rng.random((k, 1)) < 0.7)
        boxes = base + jitter
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)  # keep every box non-empty
        stray = rng.random(k) < 0.3
        sxy = rng.integers(0, 12, (k, 2))
        boxes[stray] = np.concatenate([sxy, sxy + 2], 1)[stray]
        scores = rng.choice([0.3, 0.5, 0.5, 0.7, 0.9], k) if rng.random() < 0.5 else rng.random(k)
        preds.append({"boxes": torch.from_numpy(boxes), "scores": torch.from_numpy(scores)})
        targets.append({"boxes": torch.from_numpy(true)})
    return preds, targets


def test_map_equals_cocoeval_on_random_cases():
    """COCOeval is the reference; the one mAP definition (DetectionMatches, behind every reported
    value, bootstrap and validation score) must equal it on every case, including the 1/101
    recall-grid cases where torchmetrics does not."""
    rng = np.random.default_rng(0)
    checked = {"ties": 0, "no_boxes": 0, "no_predictions": 0, "many": 0}
    for case in range(300):
        preds, targets = _random_case(rng)
        reference = cocoeval_map(preds, targets)
        assert detection_map(preds, targets) == pytest.approx(reference, abs=1e-12), case
        kept = [i for i, (p, t) in enumerate(zip(preds, targets)) if len(p["boxes"]) and len(t["boxes"])]
        assert detection_map(preds, targets, mgca_compat=True) == pytest.approx(
            cocoeval_map(preds, targets, images=kept) if kept else 0.0, abs=1e-12), case
        scores = torch.cat([p["scores"] for p in preds])
        checked["ties"] += len(scores) > len(torch.unique(scores))
        checked["no_boxes"] += any(len(t["boxes"]) == 0 for t in targets)
        checked["no_predictions"] += any(len(p["boxes"]) == 0 for p in preds)
        checked["many"] += any(len(t["boxes"]) >= 5 for t in targets)
    assert min(checked.values()) >= 20, checked  # each edge case was exercised many times


def test_torchmetrics_differs_from_cocoeval_by_its_float32_recall_grid():
    """Why torchmetrics is not the reference (the metrics module's docstring): 5 boxes, all found,
    2 false positives ranked in between. Recalls are 0.2, 0.4, 0.6, ... exactly on COCO's grid."""
    from torchmetrics.detection import MeanAveragePrecision

    true = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10], [80, 0, 90, 10]])
    boxes = torch.cat([true[:3], torch.tensor([[0.0, 50, 10, 60], [20, 50, 30, 60]]), true[3:]])
    preds = [{"boxes": boxes, "scores": torch.tensor([0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6])}]
    targets = [{"boxes": true}]
    ours = detection_map(preds, targets)
    assert ours == pytest.approx(cocoeval_map(preds, targets), abs=1e-12)
    # by hand: precision 1 up to recall 0.6, then 4/6 and 5/7 (monotone: 5/7 from 0.61 to 1.0)
    assert ours == pytest.approx((61 * 1.0 + 40 * 5 / 7) / 101, abs=1e-12)
    tm = MeanAveragePrecision(box_format="xyxy", iou_thresholds=list(MGCA_IOU_THRESHOLDS))
    tm.update([{**preds[0], "labels": torch.zeros(7, dtype=torch.long)}], [{**targets[0], "labels": torch.zeros(5, dtype=torch.long)}])
    assert float(tm.compute()["map"]) != pytest.approx(ours, abs=1e-6)


def test_score_detections_keeps_both_values_and_the_floor():
    preds, targets = _random_case(np.random.default_rng(3))
    scored = score_detections(preds, targets, bootstrap=50, seed=0)
    assert scored["value"] == pytest.approx(scored["map_cocoeval"], abs=1e-12) and scored["cocoeval_agrees"]
    floors = detection_floors(targets)
    assert scored["floor"] == floors["floor"] and scored["map_mgca_compat_floor"] == floors["map_mgca_compat_floor"]
    lo, hi = scored["ci95"]
    assert lo <= scored["value"] <= hi or scored["value"] in (0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bootstrap_resamples_score_as_repeated_images(seed):
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(20):
        p, t = _random_case(rng)
        preds += p
        targets += t
    matches = DetectionMatches.compute(preds, targets)
    # a bootstrap resample, with repeated images, is scored as if those images were listed twice
    idx = rng.integers(0, len(preds), len(preds))
    assert matches.map(idx) == pytest.approx(cocoeval_map([preds[i] for i in idx], [targets[i] for i in idx]), abs=1e-12)


def test_inverted_boxes_are_refused():
    with pytest.raises(ValueError, match="inverted"):
        DetectionMatches.compute([{"boxes": torch.tensor([[5.0, 5, 2, 9]]), "scores": torch.tensor([0.9])}],
                                 [{"boxes": torch.tensor([[1.0, 1, 4, 4]])}])


def test_rank_auroc_equals_scikit_learn_with_ties():
    from sklearn.metrics import roc_auc_score

    from benchmark.evaluation.metrics import auroc

    rng = np.random.default_rng(0)
    for n in (5, 40, 300):
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        score = np.round(rng.normal(size=n), 1)  # rounded: many ties
        assert auroc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert auroc([0, 0, 1], [0.1, 0.4, 0.35]) == pytest.approx(0.5)  # by hand: 1 of 2 pairs ordered
    assert np.isnan(auroc([1, 1], [0.2, 0.3]))


def test_dice_honours_its_threshold():
    gt = _square(side=4).unsqueeze(0)
    prob = _square(left=4, side=4).unsqueeze(0) * 0.4
    assert dice(prob, gt) == 0.0  # 0.4 < 0.5: nothing predicted
    assert dice(prob, gt, threshold=0.3) == pytest.approx(2 * 8 / (16 + 16))
    assert mean_dice_fg_bg(prob, gt, threshold=0.3) > mean_dice_fg_bg(prob, gt)


def test_mean_dice_fg_bg_of_a_class_absent_from_both_is_one():
    empty = torch.zeros(2, 8, 8)
    assert mean_dice_fg_bg(empty, empty) == 1.0  # foreground absent everywhere: 1, background perfect: 1
    full = torch.ones(2, 8, 8)
    assert mean_dice_fg_bg(full, full) == 1.0  # background absent everywhere
    assert mean_dice_fg_bg(full, empty) == 0.0  # each class predicted where it is not: 0 and 0


def _pooled_cases(seed: int, cases: int) -> tuple[list[dict], list[dict]]:
    """The images of several random cases as one test set."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for _ in range(cases):
        p, t = _random_case(rng)
        preds += p
        targets += t
    return preds, targets


def test_score_detections_fields_recomputed_independently():
    """Every field of a detection result from an independent computation: COCOeval at the given
    thresholds, the same skip rule by hand, and a percentile bootstrap of COCOeval itself."""
    preds, targets = _pooled_cases(seed=11, cases=6)
    thresholds = (0.5, 0.6)
    scored = score_detections(preds, targets, bootstrap=20, seed=4, iou_thresholds=thresholds)
    assert scored["iou_thresholds"] == [0.5, 0.6]
    assert scored["value"] == pytest.approx(cocoeval_map(preds, targets, thresholds), abs=1e-12)
    assert scored["value"] != pytest.approx(cocoeval_map(preds, targets), abs=1e-6)  # the thresholds matter here
    keep = [i for i, (p, t) in enumerate(zip(preds, targets)) if len(p["boxes"]) and len(t["boxes"])]
    assert scored["map_mgca_compat"] == pytest.approx(
        cocoeval_map([preds[i] for i in keep], [targets[i] for i in keep], thresholds), abs=1e-12)
    assert scored["boxes_test"] == sum(len(t["boxes"]) for t in targets)
    draw = np.random.default_rng(4)
    values = []
    for _ in range(20):
        idx = draw.integers(0, len(preds), len(preds))
        values.append(cocoeval_map([preds[i] for i in idx], [targets[i] for i in idx], thresholds))
    assert scored["ci95"] == pytest.approx(list(np.quantile(values, [0.025, 0.975])), abs=1e-12)


def test_segmentation_floors_by_hand():
    """Three 4x4 images, one with a 2x2 mask. Predicting nothing: Dice 0, 1, 1 -> 2/3; predicting
    everything: 2*4/(16+4) = 0.4, 0, 0 -> 0.133. Pixel-level mDice: nothing gives fg 0 and bg
    2*44/(48+44); everything gives fg 2*4/(48+4) and bg 0."""
    true = torch.zeros(3, 4, 4)
    true[0, :2, :2] = 1
    floors = segmentation_floors(true)
    assert floors["floor"] == pytest.approx(2 / 3) and floors["floor_predictor"] == "predict nothing"
    assert floors["mean_dice_fg_bg_floor"] == pytest.approx((0 + 2 * 44 / (48 + 44)) / 2)
    assert floors["mean_dice_fg_bg_floor_predictor"] == "predict nothing"
    full = torch.ones(2, 4, 4)  # every pixel is foreground: predicting everything is perfect
    assert segmentation_floors(full) == {"floor": 1.0, "floor_predictor": "predict everything",
                                         "mean_dice_fg_bg_floor": 1.0,
                                         "mean_dice_fg_bg_floor_predictor": "predict everything"}
    mostly = torch.ones(2, 4, 4)
    mostly[1] = 0  # nothing: Dice 0 and 1 -> 0.5; everything: 1 and 0 -> 0.5; a tie keeps "predict nothing"
    assert segmentation_floors(mostly)["floor_predictor"] == "predict nothing"


def test_empty_mask_breakdown_by_hand():
    true = torch.zeros(5, 4, 4)
    true[0, 0, 0] = true[1, 1, 1] = 1  # images 0 and 1 have a mask, 2, 3 and 4 do not
    prob = torch.zeros(5, 4, 4)
    prob[0, 0, 0] = 0.9  # found
    prob[2, 3, 3] = 0.5  # a false positive at exactly the threshold
    prob[3, 3, 3] = 0.49  # below it: empty (and image 4 is empty): 2 of 3 negatives predicted empty
    per_image = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    assert empty_mask_breakdown(per_image, prob, true) == {
        "positives_test": 2, "dice_positive_images": 0.5, "negatives_predicted_empty": pytest.approx(2 / 3)}
    assert empty_mask_breakdown(per_image[2:], prob[2:], true[2:]) == {
        "positives_test": 0, "dice_positive_images": None, "negatives_predicted_empty": pytest.approx(2 / 3)}
    assert empty_mask_breakdown(per_image[:2], prob[:2], true[:2]) == {
        "positives_test": 2, "dice_positive_images": 0.5, "negatives_predicted_empty": None}


def test_a_probability_at_the_threshold_counts_as_foreground():
    true = torch.zeros(1, 2, 2)
    true[0, 0, 0] = 1
    prob = torch.zeros(1, 2, 2)
    prob[0, 0, 0] = 0.5
    assert dice(prob, true) == 1.0 and mean_dice_fg_bg(prob, true) == 1.0
    prob[0, 0, 0] = 0.4999
    assert dice(prob, true) == 0.0 and mean_dice_fg_bg(prob, true) == pytest.approx((0 + 2 * 3 / 7) / 2)


def test_mean_dice_fg_bg_of_one_stray_pixel_is_zero_for_its_class():
    """A class present in one pixel of the prediction only (total 1) scores 0, not the 1 of an absent class."""
    true = torch.zeros(1, 3, 3)
    prob = torch.zeros(1, 3, 3)
    prob[0, 1, 1] = 1.0  # foreground: 1 predicted pixel, none true -> 0; background: 2*8/(8+9)
    assert mean_dice_fg_bg(prob, true) == pytest.approx((0 + 2 * 8 / 17) / 2)


def test_bootstrap_interval_edges():
    """No resamples or no images: no interval. One resample or one image: an interval of one value.
    ``images`` restricts the resampling to those images (the mgca_compat subset)."""
    preds, targets = _pooled_cases(seed=5, cases=4)
    matches = DetectionMatches.compute(preds, targets, MGCA_IOU_THRESHOLDS)
    assert all(np.isnan(bootstrap_map_ci(matches, 0, 1)))
    assert all(np.isnan(bootstrap_map_ci(matches, 10, 1, images=[])))
    draw = np.random.default_rng(1)
    one = matches.map(np.arange(len(preds))[draw.integers(0, len(preds), len(preds))])
    assert bootstrap_map_ci(matches, 1, 1) == pytest.approx((one, one), abs=1e-12)
    single = next(i for i, t in enumerate(targets) if len(t["boxes"]))
    value = matches.map(np.array([single]))
    assert bootstrap_map_ci(matches, 5, 2, images=[single]) == pytest.approx((value, value), abs=1e-12)
    subset = np.array([i for i, t in enumerate(targets) if len(t["boxes"])][:4])
    draw = np.random.default_rng(3)
    values = [matches.map(subset[draw.integers(0, len(subset), len(subset))]) for _ in range(30)]
    assert bootstrap_map_ci(matches, 30, 3, images=subset) == pytest.approx(
        tuple(np.quantile(values, [0.025, 0.975])), abs=1e-12)


def test_a_cocoeval_disagreement_is_recorded_with_both_values(monkeypatch):
    from benchmark.evaluation import metrics

    rng = np.random.default_rng(8)
    preds, targets = _random_case(rng)
    honest = score_detections(preds, targets, bootstrap=0, seed=0, iou_thresholds=(0.5, 0.6))
    assert honest["map_cocoeval"] == pytest.approx(cocoeval_map(preds, targets, (0.5, 0.6)), abs=1e-12)
    assert honest["cocoeval_agrees"] is True
    assert honest["floor"] == detection_floors(targets, (0.5, 0.6))["floor"]
    monkeypatch.setattr(metrics, "cocoeval_map", lambda p, t, thresholds: honest["value"] + 0.01)
    off = score_detections(preds, targets, bootstrap=0, seed=0, iou_thresholds=(0.5, 0.6))
    assert off["cocoeval_agrees"] is False and off["value"] == honest["value"]
    assert off["map_cocoeval"] == pytest.approx(honest["value"] + 0.01)


def _box(x1, y1, x2, y2) -> list[float]:
    return [float(x1), float(y1), float(x2), float(y2)]


def test_only_the_top_100_detections_of_an_image_count():
    """COCO's maxDets = 100: a true positive ranked 101st in its image is never seen."""
    gt = [{"boxes": torch.tensor([_box(0, 0, 10, 10)])}]
    wrong = [_box(50 + i, 50, 60 + i, 60) for i in range(100)]
    late = [{"boxes": torch.tensor(wrong + [_box(0, 0, 10, 10)]), "scores": torch.tensor([0.9] * 100 + [0.1])}]
    assert cocoeval_map(late, gt) == 0.0 and DetectionMatches.compute(late, gt).map() == 0.0
    early = [{"boxes": torch.tensor(wrong[:99] + [_box(0, 0, 10, 10)]), "scores": torch.tensor([0.9] * 99 + [0.1])}]
    assert cocoeval_map(early, gt) == pytest.approx(DetectionMatches.compute(early, gt).map(), abs=1e-12)
    assert cocoeval_map(early, gt) > 0


def test_no_box_anywhere_scores_zero_in_both_and_the_mgca_subset_may_be_empty():
    preds = [{"boxes": torch.tensor([_box(0, 0, 5, 5)]), "scores": torch.tensor([0.9])}]
    empty = [{"boxes": torch.zeros(0, 4)}]
    assert cocoeval_map(preds, empty) == 0.0 and detection_map(preds, empty) == 0.0
    nothing = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0)}]
    one = [{"boxes": torch.tensor([_box(0, 0, 5, 5)])}]
    matches = DetectionMatches.compute(nothing, one)
    assert matches.mgca_compat_images().tolist() == [] and matches.map(matches.mgca_compat_images()) == 0.0
    scored = score_detections(nothing, one, bootstrap=5, seed=0)
    assert (scored["value"], scored["map_mgca_compat"]) == (0.0, 0.0)
    assert scored["floor"] == pytest.approx(1.0, abs=1e-12)  # one test box: the same box on every image finds it


def test_the_detection_floor_is_the_best_image_independent_prediction():
    """Boxes A, A, B on three images: the same two boxes everywhere (k-means centres A and B,
    scored 2/3 and 1/3) rank A's three copies first (TP, TP, FP), then B's (FP, FP, TP):
    precision 1 up to recall 2/3, then 3/6; by hand (67 * 1 + 34 * 0.5) / 101 = 84/101 at every
    IoU threshold (the centres are the boxes). One box (their mean) overlaps neither."""
    a, b = _box(0, 0, 10, 10), _box(50, 50, 60, 60)
    targets = [{"boxes": torch.tensor([a])}, {"boxes": torch.tensor([a])}, {"boxes": torch.tensor([b])}]
    floors = detection_floors(targets)
    assert floors["floor"] == pytest.approx(84 / 101, abs=1e-12)
    assert floors["floor_predictor"] == "the same 2 boxes on every image (test-box prior)"
    assert floors["map_mgca_compat_floor"] == pytest.approx(84 / 101, abs=1e-12)  # every image has a box and a prediction
    prior = box_prior(torch.tensor([a, a, b], dtype=torch.float64), 2)
    assert cocoeval_map([prior] * 3, targets) == pytest.approx(84 / 101, abs=1e-12)
    assert detection_map([box_prior(torch.tensor([a, a, b], dtype=torch.float64), 1)] * 3, targets) == 0.0
    empty = detection_floors([{"boxes": torch.zeros(0, 4)}] * 2)
    assert (empty["floor"], empty["floor_predictor"]) == (0.0, "predict nothing")
    # the score_detections of a trained head carries the same floor
    assert score_detections([prior] * 3, targets, bootstrap=0, seed=0)["floor"] == floors["floor"]


def test_a_zero_width_prediction_is_scored_not_refused():
    gt = [{"boxes": torch.tensor([_box(0, 0, 10, 10)])}]
    preds = [{"boxes": torch.tensor([_box(3, 3, 3, 8), _box(0, 0, 10, 10)]), "scores": torch.tensor([0.9, 0.5])}]
    assert DetectionMatches.compute(preds, gt).map() == pytest.approx(cocoeval_map(preds, gt), abs=1e-12)


def test_detection_map_honours_its_thresholds_and_cocoeval_prints_nothing(capsys):
    gt = [{"boxes": torch.tensor([_box(0, 0, 10, 10)])}]
    preds = [{"boxes": torch.tensor([_box(0, 0, 10, 7)]), "scores": torch.tensor([0.9])}]  # IoU 0.7
    assert detection_map(preds, gt, (0.5, 0.6)) == pytest.approx(1.0) and detection_map(preds, gt, (0.5, 0.75)) == pytest.approx(0.5)
    assert cocoeval_map(preds, gt, (0.5, 0.75)) == pytest.approx(0.5)
    assert capsys.readouterr().out == ""  # pycocotools' progress lines are swallowed
