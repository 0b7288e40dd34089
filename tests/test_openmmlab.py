"""OpenMMLab backend: every config trains one iteration, evaluates and writes a result JSON;
the backbone honours frozen_stages / norm_eval; the metrics are the native ones.

Skipped only when mmcv (with its compiled ops), mmdet or mmseg is missing; `make test`
(and so `.ci/run`) installs them.
"""

import json
import pickle

import numpy as np
import pytest
import torch
import yaml
from support import data_error, head_cli_args, head_inputs

from benchmark.evaluation.openmmlab import openmmlab_missing

pytestmark = pytest.mark.skipif(openmmlab_missing() is not None, reason=str(openmmlab_missing()))

CONFIGS = [("upernet_fcn.py", "segment", "segmentation", "siim"),
           ("yolov3.py", "detect", "detection", "rsna"),
           ("retinanet.py", "detect", "detection", "object_cxr")]


@pytest.fixture(scope="module")
def work(phantom_root, module_dir):
    work = module_dir("openmmlab")
    for dataset in ("siim", "rsna", "object_cxr"):
        head_inputs(phantom_root, work, dataset)
    return work


def build(scope: str, kind: str, cfg: dict):
    """Build from the MMSeg or MMDet registry under that default scope (a run in the same
    process leaves the scope of its own config behind)."""
    import importlib

    from mmengine.registry import DefaultScope

    import benchmark.evaluation.openmmlab.components  # noqa: F401  (registers the store classes)

    registry = getattr(importlib.import_module(f"{scope}.registry"), kind)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(cfg)


def openmmlab_params(tmp_path, section: str, spec: dict) -> str:
    params = yaml.safe_load(open("params.yaml"))
    params["profiles"]["smoke"][section].update(backend="openmmlab", openmmlab=spec)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


def split_sizes(work, dataset: str, fraction: int) -> dict:
    from benchmark.data.store import Store
    from benchmark.evaluation.downstream import split_rows

    rows = split_rows(Store.open(work / "stores" / dataset), work / "splits" / dataset / "mgca.csv", fraction)
    return {k: len(v) for k, v in rows.items()}


@pytest.mark.slow
@pytest.mark.parametrize("config, section, task, dataset", CONFIGS)
def test_config_trains_one_iteration_and_writes_a_result(work, tmp_path, config, section, task, dataset):
    from benchmark import detect, segment

    spec = {"config": config, "max_epochs": 1}
    if config == "upernet_fcn.py":  # CPU: narrower heads than the BenchX default
        spec["cfg_options"] = {"model.decode_head.channels": 32, "model.auxiliary_head.channels": 16}
    args = head_cli_args(work, dataset, tmp_path / "out", "--fractions", "10", "--params",
                         openmmlab_params(tmp_path, section, spec), "--profile", "smoke")
    main = {"segment": segment.main, "detect": detect.main}[section]
    assert main(args) == 0
    [path] = (tmp_path / "out").glob("*.json")
    record = json.loads(path.read_text())
    assert record["backend"] == "openmmlab" and record["head"] == config.removesuffix(".py")
    assert record["task"] == task and record["status"] == "ok" and record["fraction"] == 10
    assert record["epochs_run"] == 1 and record["iterations"] == 1  # 10 % of the smoke split: one batch
    sizes = split_sizes(work, dataset, 10)
    assert record["n"]["valid"] == sizes["valid"] and record["n"]["test"] == sizes["test"]
    if dataset == "siim":  # MGCA's balanced SIIM training set, as for the native U-Net
        assert record["n"]["train"] < sizes["train"]
    else:
        assert record["n"]["train"] == sizes["train"]
    assert 0 <= record["value"] <= 1 and record["ci95"][0] <= record["value"] <= record["ci95"][1]
    assert record["openmmlab"]["config"] == config and len(record["openmmlab"]["config_sha256"]) == 64
    assert record["encoder_sha256"] and record["arch"] == "resnet18"
    extra = "mean_dice_fg_bg" if task == "segmentation" else "map_mgca_compat"
    assert 0 <= record[extra] <= 1


def test_too_few_training_images_are_recorded_not_trained(work, tmp_path):
    from benchmark import detect

    sizes = split_sizes(work, "object_cxr", 1)
    assert sizes["train"] == 1  # the smoke split: 1 % of 80 images
    args = head_cli_args(work, "object_cxr", tmp_path / "out", "--fractions", "1", "--params",
                         openmmlab_params(tmp_path, "detect", {"config": "yolov3.py", "max_epochs": 1}), "--profile", "smoke")
    assert detect.main(args) == 0
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")]
    assert record["status"] == "unavailable" and record["value"] is None and "needs 2" in record["reason"]


def test_backbone_is_the_encoder_with_frozen_stages(work):
    from benchmark.pretraining.encoders import load_encoder

    encoder, _ = load_encoder(work / "encoder")
    encoder.eval()
    x = torch.randn(2, 3, 64, 64)
    seg = build("mmseg", "MODELS", dict(type="MedVLPEncoder", checkpoint=str(work / "encoder")))
    det = build("mmdet", "MODELS", dict(type="MedVLPEncoder", checkpoint=str(work / "encoder"), out_indices=(1, 2, 3),
                                        frozen_stages=1, norm_eval=False))
    seg.init_weights()  # must not re-initialise the pre-trained weights
    with torch.no_grad():
        want = encoder(x).maps
        got = seg.eval()(x)
    assert len(got) == 4 and all(torch.equal(a, b) for a, b in zip(got, want))
    assert seg.channels == encoder.map_channels and det.channels == encoder.map_channels[1:]
    assert not any(p.requires_grad for p in seg.parameters())  # frozen_stages=4: the MGCA protocol
    det.train()
    e = det.encoder
    assert not any(p.requires_grad for m in (e.stem, e.layer1) for p in m.parameters())
    assert all(p.requires_grad for m in (e.layer2, e.layer3, e.layer4) for p in m.parameters())
    assert not e.layer1.training and e.layer2.training  # frozen stages stay in eval mode
    seg.train()
    assert not any(m.training for m in seg.modules() if isinstance(m, torch.nn.BatchNorm2d))  # norm_eval


def test_backbone_refuses_an_encoder_without_weights(tmp_path):
    (tmp_path / "imagenet").mkdir()
    (tmp_path / "imagenet" / "meta.json").write_text(json.dumps(
        {"method": "imagenet", "unavailable": "torchvision ImageNet weights not available offline"}))
    message = data_error(build, "mmseg", "MODELS", dict(type="MedVLPEncoder", checkpoint=str(tmp_path / "imagenet")))
    assert "imagenet" in message and "no encoder weights" in message


def test_store_datasets_read_split_rows(work):
    from benchmark.data.store import Store

    common = dict(store=str(work / "stores" / "rsna"), splits=str(work / "splits" / "rsna" / "mgca.csv"), pipeline=[])
    det = build("mmdet", "DATASETS", dict(type="StoreDetDataset", split="test", **common))
    assert len(det) == split_sizes(work, "rsna", 100)["test"]
    store = Store.open(work / "stores" / "rsna")
    info = det.get_data_info(0)
    assert [i["bbox"] for i in info["instances"]] == json.loads(store.manifest["boxes"][info["row"]] or "[]")
    siim = dict(store=str(work / "stores" / "siim"), splits=str(work / "splits" / "siim" / "mgca.csv"), pipeline=[])
    full = build("mmseg", "DATASETS", dict(type="StoreSegDataset", split="train", **siim))
    balanced = build("mmseg", "DATASETS", dict(type="StoreSegDataset", split="train", balance=True, **siim))
    masks = Store.open(work / "stores" / "siim").masks
    positive = [bool(masks[full.get_data_info(i)["row"]].any()) for i in range(len(full))]
    assert len(balanced) == 2 * sum(positive) < len(full)


def _sample(pred: np.ndarray, true: np.ndarray) -> dict:
    return {"pred_sem_seg": {"data": torch.from_numpy(pred)[None]}, "gt_sem_seg": {"data": torch.from_numpy(true)[None]}}


def test_dice_metric_is_the_native_one():
    from benchmark.evaluation.openmmlab.components import StoreDiceMetric

    metric = StoreDiceMetric(bootstrap=50)
    a = np.zeros((4, 4), dtype=np.int64)
    a[:2, :2] = 1  # 4 foreground pixels
    b = np.zeros((4, 4), dtype=np.int64)
    b[:2, :1] = 1  # 2 of them predicted
    metric.process(None, [_sample(b, a), _sample(np.zeros((4, 4), dtype=np.int64), np.zeros((4, 4), dtype=np.int64))])
    out = metric.compute_metrics(metric.results)
    # image 1: Dice 2*2/(2+4) = 2/3; image 2: empty and empty = 1
    assert out["dice"] == pytest.approx((2 / 3 + 1) / 2)
    # pooled: foreground 2*2/(2+4); background 2*28/(30+28)
    assert out["mean_dice_fg_bg"] == pytest.approx((4 / 6 + 56 / 58) / 2)
    assert metric.details["positives_test"] == 1 and metric.details["negatives_predicted_empty"] == 1.0


def test_detection_metric_is_the_native_one():
    from benchmark.evaluation.metrics import detection_map
    from benchmark.evaluation.openmmlab.components import StoreDetectionMetric

    gen = torch.Generator().manual_seed(0)
    samples, preds, targets = [], [], []
    for _ in range(6):
        xy = torch.rand(2, 2, generator=gen) * 40
        true = torch.cat([xy, xy + 10 + torch.rand(2, 2, generator=gen) * 10], 1)
        guess = true + torch.randn(2, 4, generator=gen) * 2
        guess[:, 2:] = torch.maximum(guess[:, 2:], guess[:, :2] + 1)
        scores = torch.rand(2, generator=gen)
        samples.append({"pred_instances": {"bboxes": guess, "scores": scores}, "gt_instances": {"bboxes": true}})
        preds.append({"boxes": guess, "scores": scores})
        targets.append({"boxes": true})
    metric = StoreDetectionMetric(bootstrap=20)
    metric.process(None, samples)
    out = metric.compute_metrics(metric.results)
    assert 0 < out["map"] < 1
    assert out["map"] == pytest.approx(detection_map(preds, targets), abs=1e-6)
    assert out["map_mgca_compat"] == pytest.approx(detection_map(preds, targets, mgca_compat=True), abs=1e-6)


def test_best_checkpoint_loads_without_turning_the_safe_default_off(tmp_path):
    from mmengine.logging import HistoryBuffer

    from benchmark.evaluation.openmmlab.run import load_best_weights

    model = torch.nn.Linear(3, 2)
    buffer = HistoryBuffer()
    buffer.update(1.0)
    path = tmp_path / "run" / "best.pth"
    path.parent.mkdir()
    torch.save({"state_dict": model.state_dict(), "message_hub": {"log_scalars": {"loss": buffer}}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # torch's weights-only default is still in force for everything else

    class Runner:
        pass

    runner = Runner()
    runner.model = torch.nn.Linear(3, 2)
    load_best_weights(runner, path, tmp_path / "run")
    assert all(torch.equal(a, b) for a, b in zip(runner.model.state_dict().values(), model.state_dict().values()))
    with pytest.raises(RuntimeError, match="not a checkpoint of this run"):
        load_best_weights(runner, path, tmp_path / "elsewhere")


def test_unknown_backend_is_one_line_naming_the_params_file(work, tmp_path):
    from benchmark import segment

    params = openmmlab_params(tmp_path, "segment", {"config": "upernet_fcn.py", "max_epochs": 1})
    text = open(params).read().replace("backend: openmmlab", "backend: mmsegmentation")
    open(params, "w").write(text)
    message = data_error(segment.main, head_cli_args(work, "siim", tmp_path / "out", "--params", params, "--profile", "smoke"))
    assert params in message and "segment.backend: input should be 'native' or 'openmmlab'" in message


def test_test_pipeline_scores_against_store_pixels(work):
    """Images are resized to the input size, ground truth stays in store pixels, which is
    where MMDet puts the predictions back (rescale) and where the metric compares them."""
    from mmengine.config import Config

    from benchmark.data.store import Store
    from benchmark.evaluation.openmmlab import CONFIG_DIR

    cfg = Config.fromfile(str(CONFIG_DIR / "yolov3.py"))
    pipeline = [dict(s, scale=(32, 32)) if s["type"] == "Resize" else s for s in cfg.test_dataloader.dataset.pipeline]
    data = build("mmdet", "DATASETS", dict(type="StoreDetDataset", store=str(work / "stores" / "rsna"), split="test",
                                           test_mode=True, splits=str(work / "splits" / "rsna" / "mgca.csv"),
                                           pipeline=pipeline))
    store = Store.open(work / "stores" / "rsna")
    with_box = next(i for i in range(len(data)) if data.get_data_info(i)["instances"])
    sample = data[with_box]
    row = data.get_data_info(with_box)["row"]
    assert tuple(sample["inputs"].shape) == (3, 32, 32)
    meta = sample["data_samples"].metainfo
    assert meta["ori_shape"] == store.images.shape[1:] and meta["img_shape"] == (32, 32)
    truth = torch.tensor(json.loads(store.manifest["boxes"][row]), dtype=torch.float32)
    assert torch.allclose(sample["data_samples"].gt_instances.bboxes.tensor, truth)
