"""YOLOv3 head on the frozen encoder: anchors, shapes, the loss at its optimum, decoding, a short run."""

import json
import math

import pytest
import torch
import yaml
from support import data_error, head_cli_args, head_inputs, head_sources

from benchmark import detect
from benchmark.evaluation import detect as detect_lib
from benchmark.evaluation.detect import boxes_at, train_detection
from benchmark.evaluation.metrics import detection_map
from benchmark.evaluation.yolo import COCO_ANCHORS, YOLOv3Head, anchors_for, decode, yolo_loss
from benchmark.pretraining.encoders import ImageEncoder


def test_anchors_are_coco_scaled_to_the_input():
    a = anchors_for(224)
    assert a.shape == (9, 2)
    assert a[0].tolist() == pytest.approx([10 * 224 / 416, 13 * 224 / 416])
    assert a[-1].tolist() == pytest.approx([373 * 224 / 416, 326 * 224 / 416])
    assert len(COCO_ANCHORS) == 9


def test_head_gives_three_scales():
    enc = ImageEncoder("resnet18").eval()
    head = YOLOv3Head(enc.map_channels[1:], (16, 32, 64))
    with torch.no_grad():
        outs = head(list(enc(torch.randn(2, 3, 64, 64)).maps))
    assert [tuple(o.shape) for o in outs] == [(2, 3, 8, 8, 6), (2, 3, 4, 4, 6), (2, 3, 2, 2, 6)]


def _perfect_outputs(box: torch.Tensor, size: int = 64):
    """Raw outputs that predict ``box`` exactly at its assigned cell and nothing elsewhere."""
    anchors = anchors_for(size)
    outs = [torch.full((1, 3, size // s, size // s, 6), -30.0) for s in (8, 16, 32)]
    wh = box[2:] - box[:2]
    best = int(torch.argmax(torch.min(wh[None], anchors).prod(-1) / (wh.prod() + anchors.prod(-1) - torch.min(wh[None], anchors).prod(-1))))
    scale, a = best // 3, best % 3
    stride = (8, 16, 32)[scale]
    cx, cy = float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2
    gx, gy = int(cx / stride), int(cy / stride)
    fx, fy = cx / stride - gx, cy / stride - gy
    cell = outs[scale][0, a, gy, gx]
    cell[0], cell[1] = math.log(fx / (1 - fx)), math.log(fy / (1 - fy))
    cell[2], cell[3] = torch.log(wh / anchors[best])
    cell[4], cell[5] = 30.0, 30.0
    return outs, anchors, (fx, fy)


def test_loss_at_its_optimum_is_the_xy_entropy_only():
    box = torch.tensor([10.0, 14.0, 40.0, 47.0])
    outs, anchors, (fx, fy) = _perfect_outputs(box)
    terms = yolo_loss(outs, [box[None]], anchors)
    entropy = sum(-(p * math.log(p) + (1 - p) * math.log(1 - p)) for p in (fx, fy))  # BCE of a soft target at its optimum
    assert terms["xy"].item() == pytest.approx(entropy, rel=1e-4)
    assert terms["wh"].item() == pytest.approx(0.0, abs=1e-8)
    assert terms["conf"].item() < 1e-6 and terms["cls"].item() < 1e-6
    assert terms["loss"].item() == pytest.approx(2.5 * entropy, rel=1e-4)
    # an image without boxes only pays for confident predictions
    empty = yolo_loss(outs, [torch.zeros(0, 4)], anchors)
    assert empty["xy"].item() == 0 and empty["conf"].item() == pytest.approx(30.0, rel=1e-3)


def test_decode_recovers_the_box_and_map_is_one():
    box = torch.tensor([10.0, 14.0, 40.0, 47.0])
    outs, anchors, _ = _perfect_outputs(box)
    (pred,) = decode(outs, anchors)
    assert pred["boxes"].shape == (1, 4) and torch.allclose(pred["boxes"][0], box, atol=1e-3)
    assert detection_map([pred], [{"boxes": box[None]}]) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def rsna_smoke(phantom_root, module_dir):
    return head_inputs(phantom_root, module_dir("detect"), "rsna")


def test_short_training_lowers_the_loss(rsna_smoke, smoke_profile):
    cfg = {**smoke_profile["detect"], "max_epochs": 4, "patience": 4}
    size = int(cfg["input_size"])
    store, frozen, src = head_sources(rsna_smoke, "rsna", size)
    boxes = {s: boxes_at(store.manifest["boxes"].iloc[src[s].rows].tolist(), store.images.shape[-1], size) for s in src}
    assert sum(len(b) for b in boxes["train"]) > 0
    head = YOLOv3Head(frozen.encoder.map_channels[1:], tuple(cfg["widths"]))
    fit = train_detection(head, src["train"], boxes["train"], src["valid"], boxes["valid"], anchors_for(size), cfg,
                          float(cfg["lr"]) * 4, 16, seed=0)
    losses = [h["train_loss"] for h in fit["history"]]
    assert losses[-1] < losses[0]


def _smoke_cli_record(rsna_smoke, tmp_path, fraction: str, **overrides) -> tuple[dict, dict]:
    """Params with the smoke profile's detect section overridden, and the one result of a CLI run."""
    params = yaml.safe_load(open("params.yaml"))
    params["profiles"]["smoke"]["detect"].update(overrides)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "out"
    assert detect.main(head_cli_args(rsna_smoke, "rsna", out, "--fractions", fraction, "--profile", "smoke",
                                     "--params", str(tmp_path / "params.yaml"))) == 0
    (path,) = out.glob("*.json")
    return params, json.loads(path.read_text())


def test_cli_writes_both_map_variants(rsna_smoke, tmp_path):
    params, record = _smoke_cli_record(rsna_smoke, tmp_path, "1",  # the paper's 1 % setting
                                       low_data={"rsna": {"lr": 2.0e-4, "batch_size": 8}})
    assert record["task"] == "detection" and record["head"] == "yolov3" and record["metric"] == "map"
    assert 0 <= record["value"] <= 1 and 0 <= record["map_mgca_compat"] <= 1
    assert record["lr"] == 2.0e-4 and record["batch_size"] == 8  # the 1% RSNA setting
    assert record["iou_thresholds"] == [0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75]
    assert params["profiles"]["paper"]["detect"]["input_size"] == 224


def test_mgca_variant_runs_end_to_end_and_is_recorded(rsna_smoke, tmp_path):
    params, record = _smoke_cli_record(rsna_smoke, tmp_path, "10", variant="mgca", max_epochs=1)
    assert record["head_variant"] == "mgca" and 0 <= record["value"] <= 1 and record["epochs_run"] == 1
    assert record["input_size"] == params["profiles"]["smoke"]["detect"]["input_size"]
    assert params["profiles"]["paper"]["detect"]["variant"] == "mgca"


def test_store_without_boxes_is_refused_before_any_training(rsna_smoke, tmp_path, phantom_root):
    from benchmark import prepare

    assert prepare.main(["--dataset", "siim", "--root", str(phantom_root / "siim"),
                         "--out", str(tmp_path / "stores" / "object_cxr"), "--profile", "smoke"]) == 0
    args = head_cli_args(rsna_smoke, "object_cxr", tmp_path / "out", "--profile", "smoke")
    args[args.index("--stores") + 1] = str(tmp_path / "stores")
    message = data_error(detect.main, args)
    assert "no 'boxes' column" in message and "object_cxr" in message
    assert not (tmp_path / "out").exists()


def test_objectness_prior_sets_only_the_objectness_bias():
    torch.manual_seed(0)
    plain = YOLOv3Head((128, 256, 512), (16, 32, 64))
    torch.manual_seed(0)
    primed = YOLOv3Head((128, 256, 512), (16, 32, 64), objectness_prior=0.01)
    for a, b in zip(plain.heads, primed.heads):
        bias_a, bias_b = a[-1].bias.detach().view(3, 6), b[-1].bias.detach().view(3, 6)
        assert torch.sigmoid(bias_b[:, 4]) == pytest.approx([0.01] * 3, rel=1e-5)
        assert torch.equal(bias_a[:, [0, 1, 2, 3, 5]], bias_b[:, [0, 1, 2, 3, 5]])
        assert torch.equal(a[-1].weight, b[-1].weight)


def test_each_fraction_trains_on_its_rows_and_the_test_rows_are_scored(rsna_smoke, tmp_path, monkeypatch):
    from support import head_cli_args, manifest_rows

    work, seen = rsna_smoke, []
    real_train, real_predict = detect_lib.train_detection, detect_lib.predict
    monkeypatch.setattr(detect_lib, "train_detection", lambda head, train, tb, valid, vb, *a: (
        seen.append(("fit", train.rows.copy(), valid.rows.copy())), real_train(head, train, tb, valid, vb, *a))[1])
    monkeypatch.setattr(detect_lib, "predict", lambda head, source, *a, **k: (
        seen.append(("predict", source.rows.copy())), real_predict(head, source, *a, **k))[1])
    assert detect.main(head_cli_args(work, "rsna", tmp_path / "out", "--profile", "smoke")) == 0
    fits = [s for s in seen if s[0] == "fit"]
    assert [sorted(train) for _, train, _ in fits] == [manifest_rows(work, "rsna", "train", f) for f in (1, 10, 100)]
    assert all(sorted(valid) == manifest_rows(work, "rsna", "valid") for _, _, valid in fits)
    scored = [rows for _, rows in (s for s in seen if s[0] == "predict")]
    # per epoch the validation rows, once per run the test rows
    assert sum(sorted(rows) == manifest_rows(work, "rsna", "test") for rows in scored) == 3
