"""MGCA's YOLOv3 variant (the ``mgca`` protocol's detection head): shape-IoU, assignment at every
scale, the loss at a hand-computed case, objectness scoring and the +1 pixel NMS, the neck."""

import math

import pytest
import torch

from benchmark.evaluation.yolo import STRIDES, VARIANTS, YOLOv3Head, _shape_iou_plus_one, anchors_for, decode_mgca, nms_plus_one, yolo_loss_mgca

SIZE = 64  # grids 8 x 8, 4 x 4, 2 x 2 at strides 8, 16, 32
BOX = torch.tensor([[8.0, 8.0, 24.0, 24.0]])  # 16 x 16 px centred at (16, 16)


def test_shape_iou_counts_every_side_one_unit_longer():
    # stride 8: the box is 2 x 2 cells; anchors (10, 13), (16, 30), (33, 23) x 64/416 / 8 px per cell
    anchors = anchors_for(SIZE)[:3] / 8
    # every anchor is inside the box, so IoU = (aw + 1)(ah + 1) / 3^2:
    # (1.1923 x 1.2500, 1.3077 x 1.5769, 1.6346 x 1.4423) / 9
    assert _shape_iou_plus_one(torch.tensor([2.0, 2.0]), anchors).tolist() == pytest.approx(
        [0.16560, 0.22913, 0.26196], abs=1e-4)


def _per_scale_expected(stride: int, best: int, ignored: int) -> dict:
    """The four terms at one scale with every logit 0 (all sigmoids 0.5), from the hand-chosen
    anchor ``best`` and the number of anchors ``ignored`` at the box's cell."""
    cells = 3 * (SIZE // stride) ** 2
    a = anchors_for(SIZE)[3 * (STRIDES.index(stride)) + best] / stride
    t_wh = torch.log(torch.tensor([16.0 / stride, 16.0 / stride]) / a)
    ln2 = math.log(2)
    return {"xy": 2 * ln2 / cells,  # BCE(0.5, t) = ln 2 for any target t
            "wh": float((t_wh ** 2).sum()) / cells,  # MSE of raw 0 against log(w / anchor)
            "conf": (ln2 + 0.5 * ln2 * (cells - ignored)) / cells,
            "cls": ln2 / cells}


def test_loss_at_zero_logits_is_the_hand_computed_sum_over_scales():
    outs = [torch.zeros(1, 3, SIZE // s, SIZE // s, 6) for s in STRIDES]
    terms = yolo_loss_mgca(outs, [BOX], anchors_for(SIZE))
    # stride 8: shape IoUs 0.166 / 0.229 / 0.262 (test above): best anchor 2, none above 0.5, so even
    # the positive cell stays a "no object" cell (the reference code's behaviour); 192 cells
    # stride 16: box 1 x 1 cell; IoUs 2.0442 / 4 = 0.511, 2.2869 / 4 = 0.572, 3.1346 / 4.2260 = 0.742:
    # best 2, all three ignored; 48 cells
    # stride 32: box 0.5 x 0.5; IoUs 2.1490 / 2.3327 = 0.921, 2.25 / 3.4158 = 0.659, 2.25 / 7.1712 = 0.314:
    # best 0, two ignored; 12 cells
    parts = [_per_scale_expected(8, 2, 0), _per_scale_expected(16, 2, 3), _per_scale_expected(32, 0, 2)]
    for key in ("xy", "wh", "conf", "cls"):
        assert terms[key].item() == pytest.approx(sum(p[key] for p in parts), rel=1e-5), key
    expected = sum(2.5 * p["xy"] + 2.5 * p["wh"] + p["conf"] + p["cls"] for p in parts)
    assert terms["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_each_box_is_assigned_at_every_scale():
    outs = [torch.zeros(1, 3, SIZE // s, SIZE // s, 6, requires_grad=True) for s in STRIDES]
    yolo_loss_mgca(outs, [BOX], anchors_for(SIZE))["wh"].backward()
    # the wh term has a gradient only at positives (log(w / anchor) != 0 at all three): one cell
    # and anchor per scale, at the box centre (the xy term would not show stride 32, where the
    # centre's offset 0.5 is already what a zero logit predicts)
    where = [torch.nonzero(o.grad[..., 2]).tolist() for o in outs]
    assert where == [[[0, 2, 2, 2]], [[0, 2, 1, 1]], [[0, 0, 0, 0]]]


def test_an_image_without_boxes_pays_half_weight_no_object_everywhere():
    outs = [torch.zeros(2, 3, SIZE // s, SIZE // s, 6) for s in STRIDES]
    terms = yolo_loss_mgca(outs, [torch.zeros(0, 4), torch.zeros(0, 4)], anchors_for(SIZE))
    assert terms["conf"].item() == pytest.approx(3 * 0.5 * math.log(2), rel=1e-6)  # a mean per scale, 3 scales
    assert terms["xy"].item() == 0 and terms["wh"].item() == 0 and terms["cls"].item() == 0


def test_decoding_scores_by_objectness_alone():
    outs = [torch.full((1, 3, SIZE // s, SIZE // s, 6), -20.0) for s in STRIDES]
    outs[0][0, 0, 3, 3, 4] = 2.0  # objectness 0.881
    outs[0][0, 0, 3, 3, 5] = -5.0  # class probability 0.0067: ours would score 0.006
    (pred,) = decode_mgca(outs, anchors_for(SIZE), conf_threshold=0.5)
    assert pred["scores"].tolist() == pytest.approx([torch.sigmoid(torch.tensor(2.0)).item()])


def test_nms_uses_the_plus_one_pixel_iou():
    a = torch.tensor([[0.0, 0.0, 9.0, 9.0], [3.0, 0.0, 12.0, 9.0]])
    # torchvision's IoU: 6 x 9 / (2 x 81 - 54) = 0.5; with +1: 7 x 10 / (2 x 100 - 70) = 0.538
    scores = torch.tensor([0.9, 0.8])
    assert nms_plus_one(a, scores, 0.52).tolist() == [0]
    from torchvision.ops import nms
    assert nms(a, scores, 0.52).tolist() == [0, 1]


def test_mgca_neck_has_five_convolutions_per_stage_and_full_laterals():
    v = VARIANTS["mgca"]
    head = YOLOv3Head((512, 1024, 2048), (128, 256, 512), depth=v.depth, full_laterals=v.full_laterals)
    assert [len(b) for b in (head.block5, head.block4, head.block3)] == [5, 5, 5]
    # laterals 512 -> 256 -> 128 as in MGCA's detector; stage inputs C4 + 256 and C3 + 128
    assert head.lateral5[0].out_channels == 256 and head.lateral4[0].out_channels == 128
    assert head.block4[0][0].in_channels == 1024 + 256 and head.block3[0][0].in_channels == 512 + 128
    clean = YOLOv3Head((512, 1024, 2048), (128, 256, 512))
    assert [len(b) for b in (clean.block5, clean.block4, clean.block3)] == [3, 3, 3]
    assert clean.lateral5[0].out_channels == 128
