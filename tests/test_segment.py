"""U-Net head on the frozen encoder: shapes, the protocol loss by hand, and a short run that learns."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from segmentation_models_pytorch.losses import FocalLoss
from support import head_cli_args, head_inputs, head_sources

from benchmark import segment
from benchmark.evaluation import segment as segment_lib
from benchmark.evaluation.segment import UNetHead, segmentation_loss
from benchmark.pretraining.encoders import ImageEncoder


def test_unet_head_returns_logits_at_input_size():
    enc = ImageEncoder("resnet18").eval()
    head = UNetHead(enc.map_channels, (32, 16, 16, 8, 8))
    with torch.no_grad():
        out = head(list(enc(torch.randn(2, 3, 48, 48)).maps), 48)
    assert out.shape == (2, 48, 48)


def test_four_block_unet_head_stops_at_stride_two_and_upsamples():
    enc = ImageEncoder("resnet18").eval()
    head = UNetHead(enc.map_channels, (32, 16, 16, 8)).eval()
    assert not head.full_resolution and len(head.decoder.blocks) == 4
    with torch.no_grad():
        maps = list(enc(torch.randn(2, 3, 64, 64)).maps)
        out = head(maps, 64)
        coarse = head.head(head.decoder([maps[0].new_zeros(2, 0, 32, 32), *maps]))
    assert coarse.shape == (2, 1, 32, 32) and out.shape == (2, 64, 64)
    # 2x bilinear upsampling (align_corners=False, edges replicated) gives every coarse cell a total
    # weight of 4 output pixels (interior 2 x (0.75 + 0.25) per axis; edge 1 + 0.75 + 0.25), so the
    # means agree to float rounding (measured difference < 1e-6)
    assert out.mean().item() == pytest.approx(coarse.mean().item(), abs=1e-4)
    with pytest.raises(ValueError, match="4 or 5 blocks"):
        UNetHead(enc.map_channels, (32, 16, 8))


def test_segmentation_loss_hand_computed():
    logits = torch.zeros(1, 2, 2)  # p = 0.5 everywhere
    target = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    # focal: BCE ln 2 scaled by (1 - 0.5)^2 on every pixel; soft Dice = (2*0.5 + 1) / (4*0.5 + 1 + 1)
    expected = 10 * 0.25 * math.log(2) - math.log(2.0 / 4.0)
    assert segmentation_loss(logits, target, FocalLoss(mode="binary", gamma=2.0)).item() == pytest.approx(expected, rel=1e-5)


@pytest.fixture(scope="module")
def siim_smoke(phantom_root, module_dir):
    return head_inputs(phantom_root, module_dir("segment"), "siim")


def test_cli_writes_one_result_per_fraction(siim_smoke, tmp_path):
    work = siim_smoke
    params = yaml.safe_load(open("params.yaml"))
    params["profiles"]["smoke"]["segment"].update({"max_epochs": 4, "patience": 4})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    args = head_cli_args(work, "siim", tmp_path / "out", "--fractions", "10", "100",
                         "--params", str(tmp_path / "params.yaml"), "--profile", "smoke")
    assert segment.main(args) == 0
    records = {r["fraction"]: r for r in map(json.loads, (p.read_text() for p in (tmp_path / "out").glob("*.json")))}
    assert sorted(records) == [10, 100]
    record = records[100]
    assert record["task"] == "segmentation" and record["metric"] == "dice" and record["head"] == "unet"
    assert 0 <= record["value"] <= 1 and record["ci95"][0] <= record["value"] <= record["ci95"][1]
    assert 0 <= record["mean_dice_fg_bg"] <= 1
    assert record["n"]["test"] > 0 and record["backend"] == "native" and record["protocol"] == "mgca"
    assert records[10]["n"]["train"] < record["n"]["train"]
    assert records[10]["n"]["test"] == record["n"]["test"]
    assert record["train_augment"] == "none" and record["input_size"] == params["profiles"]["smoke"]["segment"]["input_size"]


def test_mgca_augmentation_encodes_each_augmented_batch(siim_smoke, tmp_path, monkeypatch):
    from benchmark.evaluation import downstream

    params = yaml.safe_load(open("params.yaml"))
    params["profiles"]["smoke"]["segment"].update(
        {"max_epochs": 1, "patience": 1, "augment": "shift_scale_rotate", "cache_features": False})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    encoded = []
    real = downstream.MapSource.encode
    monkeypatch.setattr(downstream.MapSource, "encode", lambda self, images: (encoded.append(len(images)), real(self, images))[1])
    args = head_cli_args(siim_smoke, "siim", tmp_path / "out", "--fractions", "100",
                         "--params", str(tmp_path / "params.yaml"), "--profile", "smoke")
    assert segment.main(args) == 0
    (path,) = (tmp_path / "out").glob("*.json")
    record = json.loads(path.read_text())
    assert record["train_augment"] == "shift_scale_rotate" and 0 <= record["value"] <= 1
    # one epoch: every training batch (of 8; a last batch of one is skipped) was encoded after augmentation
    n = record["n"]["train"]
    assert record["batch_size"] == 8 and sum(encoded) == n - (n % 8 == 1)


def test_training_lowers_the_loss(siim_smoke, smoke_profile):
    from benchmark.evaluation.segment import masks_at, train_segmentation

    cfg = {**smoke_profile["segment"], "max_epochs": 4, "patience": 4}
    size = int(cfg["input_size"])
    store, frozen, src = head_sources(siim_smoke, "siim", size)
    masks = {s: masks_at(store.masks[src[s].rows], size) for s in src}
    head = UNetHead(frozen.encoder.map_channels, tuple(cfg["decoder_channels"]))
    fit = train_segmentation(head, src["train"], masks["train"], src["valid"], masks["valid"], cfg, 8, seed=0)
    losses = [h["train_loss"] for h in fit["history"]]
    assert losses[-1] < losses[0]


def test_siim_training_set_is_balanced_like_mgca(siim_smoke):
    from benchmark.data.store import Store
    from benchmark.evaluation.downstream import split_rows
    from benchmark.evaluation.segment import balanced_train_rows

    store = Store.open(siim_smoke / "stores" / "siim")
    train = split_rows(store, siim_smoke / "splits" / "siim" / "mgca.csv", 100)["train"]
    positive = store.masks[train].reshape(len(train), -1).any(1)
    kept = balanced_train_rows(store, train, "siim-segment-balance")
    kept_positive = store.masks[kept].reshape(len(kept), -1).any(1)
    assert 0 < positive.sum() < (~positive).sum()  # the phantom SIIM has more negatives than positives
    assert kept_positive.sum() == positive.sum() == (~kept_positive).sum()
    assert set(train[positive]) <= set(kept)
    assert np.array_equal(kept, balanced_train_rows(store, train, "siim-segment-balance"))
    assert not np.array_equal(kept, balanced_train_rows(store, train, "another-salt"))


def test_empty_mask_breakdown_explains_the_mean():
    from benchmark.evaluation.metrics import dice_per_image
    from benchmark.evaluation.segment import empty_mask_breakdown

    true = torch.zeros(4, 4, 4)
    true[0, :2, :2] = 1  # one image with a 4-pixel mask, three without
    prob = torch.zeros(4, 4, 4)
    prob[0, :2, :1] = 1  # half of the mask found: Dice 2*2/(2+4)
    prob[1, 3, 3] = 1  # a false positive on one negative image
    per_image = dice_per_image(prob, true).numpy()
    out = empty_mask_breakdown(per_image, prob, true)
    assert out["positives_test"] == 1
    assert out["dice_positive_images"] == pytest.approx(2 / 3)
    assert out["negatives_predicted_empty"] == pytest.approx(2 / 3)
    assert per_image.mean() == pytest.approx((2 / 3 + 0 + 1 + 1) / 4)


def test_a_seeded_run_repeats_exactly(siim_smoke, tmp_path):
    records = []
    for out in ("first", "second"):  # the global RNG state differs between the calls
        args = head_cli_args(siim_smoke, "siim", tmp_path / out, "--fractions", "10", "--profile", "smoke")
        assert segment.main(args) == 0
        (path,) = (tmp_path / out).glob("*.json")
        records.append(json.loads(path.read_text()))
    for key in ("value", "best_valid", "converged", "mean_dice_fg_bg", "dice_positive_images"):
        assert records[0][key] == records[1][key], key


def test_each_fraction_trains_on_its_rows_and_the_test_rows_are_scored(siim_smoke, tmp_path, monkeypatch):
    """Rows from the manifests (pandas): SIIM trains on the fraction's positives plus as many of its
    negatives (MGCA's balancing), selects on the validation rows and scores exactly the test rows."""
    from support import manifest_rows

    from benchmark.data.store import Store

    work, seen = siim_smoke, []
    real_train, real_predict = segment_lib.train_segmentation, segment_lib.predict
    monkeypatch.setattr(segment_lib, "train_segmentation", lambda head, train, tm, valid, vm, *a: (
        seen.append(("fit", train.rows.copy(), valid.rows.copy())), real_train(head, train, tm, valid, vm, *a))[1])
    monkeypatch.setattr(segment_lib, "predict", lambda head, source, *a: (
        seen.append(("test", source.rows.copy())), real_predict(head, source, *a))[1])
    assert segment.main(head_cli_args(work, "siim", tmp_path / "out", "--profile", "smoke")) == 0
    masks = Store.open(work / "stores" / "siim").masks
    positive = set(np.flatnonzero(masks.reshape(len(masks), -1).any(1)).tolist())
    fits, tests = [s for s in seen if s[0] == "fit"], [s for s in seen if s[0] == "test"]
    assert len(fits) == len(tests) == 3
    for fraction, (_, train, valid) in zip((1, 10, 100), fits):
        allowed = manifest_rows(work, "siim", "train", fraction)
        assert set(train) <= set(allowed) and positive & set(allowed) <= set(train)
        assert len(set(train) - positive) == min(len(set(train) & positive), len(set(allowed) - positive)) or fraction < 100
        assert sorted(valid) == manifest_rows(work, "siim", "valid")
    assert all(sorted(rows) == manifest_rows(work, "siim", "test") for _, rows in tests)
