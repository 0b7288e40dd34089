"""The ``paper`` profile end to end on CPU, with only its sizes shrunk.

Paper-only code runs in no other test: ResNet-50 at 224 px from an ImageNet file, each method's
official recipe (warm restarts, 40 % warm-up, Adam with clipping, the official augmentations,
per-process losses), a BERT-shaped LM read from a folder (MGCA cuts it to 6 layers), report tokens
with no hidden-state cache, the worker-process input pipeline and channels-last memory, the store
at 256 px with MGCA's section parser and polylabel boxes, centre-cropped features, the augmented
probe (CheXpert's jitter), the U-Net with ShiftScaleRotate and the encoder's BatchNorm in training
mode, MGCA's YOLOv3 with its 1 % settings, and the report.

What is shrunk, and nothing else: the phantom datasets (a few dozen images), the LM's widths
(BERT's class, tokenizer and 512 positions; 6 layers of 32), epochs and batch sizes (one or two
steps per stage), seeds and fractions, bootstrap resamples, and the threads (this machine's 2).
Two settings a CPU cannot take are swapped and said here: M-FLAG's float16 becomes bfloat16
(CPU autocast keeps reductions in float16, refused by the engine), and the ImageNet file is a
seeded random ResNet-50 saved under torchvision's naming (nothing is downloaded).
"""

import hashlib
import json
from pathlib import Path

import pytest
import torch
import yaml

from benchmark import detect, embed, features, prepare, pretrain, probe, report, segment, splits
from benchmark.core.config import load_profile
from benchmark.data.datasets import WRITERS
from benchmark.pretraining.method_specs import get_method, recipe_values

REPO = Path(__file__).resolve().parents[1]
#: the dry run's datasets, a few dozen images each
PHANTOM = {"mimic": {"studies": 10, "lateral_share": 0.3}, "chexpert": {"images": 30}, "siim": {"images": 30},
           "object_cxr": {"train": 24, "dev": 10}}
#: a frozen LM with M-FLAG's augmentations and warm restarts; a trainable 6-layer LM at 299 px with a 40 % warm-up
#: (GLoRIA's Adam and clipping run at ResNet-18 size in tests/test_pretrain_engine.py)
METHODS = ("mflag", "mgca")


def _bert_shaped_lm(folder: Path) -> None:
    """A randomly initialised BERT (6 layers of width 32, 512 positions) with the packaged MiniLM's
    WordPiece tokenizer, saved as a local model folder (``lm.name`` may name one)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from benchmark.pretraining.text import packaged_minilm_dir

    tokenizer = AutoTokenizer.from_pretrained(str(packaged_minilm_dir()), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=6, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _fake_imagenet(hub: Path, monkeypatch) -> str:
    """A seeded random ResNet-50 state dict named as torchvision names its files (SHA-256 prefix)."""
    import torchvision

    from benchmark.pretraining import imagenet

    torch.manual_seed(1)
    tmp = hub / "resnet50.pth"
    (hub / "checkpoints").mkdir(parents=True)
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp)
    name = f"resnet50-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(hub / "checkpoints" / name)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setattr(imagenet, "weight_url", lambda arch, version: f"https://example.org/{name}")  # V1 and V2 alike
    return name


def _dry_run_params(work: Path, lm: Path) -> Path:
    """params.yaml with the paper profile's sizes shrunk (and only those; see the module's text)."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    paper = params["profiles"]["paper"]
    paper["data_kind"] = "phantom"  # what it is, in every record
    paper["lm"].update({"name": str(lm), "batch_size": 8})
    overrides = {}
    for method in METHODS:  # 2 steps each; float16 (a GPU's) becomes bfloat16
        amp = recipe_values(get_method(method)).get("amp")
        overrides[method] = {"epochs": 1, "batch_per_process": 4, **({"amp": "bfloat16"} if amp == "float16" else {})}
    paper["pretrain"].update({"num_threads": 2, "checkpoint_every": 0, "method_overrides": overrides})
    shrink = {"seeds": [0], "max_epochs": 1, "patience": 1, "bootstrap": 20}
    paper["probe"].update({**shrink, "fractions": [100], "batch_size": 8})
    paper["segment"].update({**shrink, "fractions": [100], "batch_size": {"siim": 4, "rsna": 4}})
    paper["detect"].update({**shrink, "fractions": [1], "batch_size": 4,
                            "low_data": {"object_cxr": {"lr": 2.5e-4, "batch_size": 4}}})
    params["profile"] = "paper"
    path = work / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    load_profile(path, "paper")  # the shrunk profile still passes the schema
    return path


@pytest.fixture(scope="module")
def dry_run(module_dir, tmp_path_factory):
    work = module_dir("paper-dry-run")
    raw = work / "raw"
    for name, sizes in PHANTOM.items():
        (raw / name).mkdir(parents=True)
        WRITERS[name](raw / name, seed=0, image_size=128, workers=1, **sizes)
    _bert_shaped_lm(work / "bert-shaped")
    return work, _dry_run_params(work, work / "bert-shaped")


def test_the_paper_profile_runs_every_stage_end_to_end(dry_run, monkeypatch, capsys):
    work, params = dry_run
    file = _fake_imagenet(work / "hub", monkeypatch)
    p = ["--params", str(params), "--profile", "paper"]
    for name in PHANTOM:
        assert prepare.main(["--dataset", name, "--root", str(work / "raw" / name), "--out", str(work / "store" / name)] + p) == 0
        if name != "mimic":
            assert splits.main(["write", "--dataset", name, "--protocol", "mgca", "--root", str(work / "raw" / name),
                                "--out", str(work / "splits" / name / "mgca.csv")]) == 0
    store_info = json.loads((work / "store" / "object_cxr" / "store.json").read_text())
    assert store_info["image_size"] == 256 and store_info["reader_options"] == {"polygon_boxes": "polylabel"}
    assert embed.main(["--store", str(work / "store" / "mimic"), "--out", str(work / "text"), "--cache", str(work / "cache")] + p) == 0
    for method in METHODS:
        assert pretrain.main(["--method", method, "--store", str(work / "store" / "mimic"), "--text", str(work / "text"),
                              "--out", str(work / "models" / method)] + p) == 0
        meta = json.loads((work / "models" / method / "meta.json").read_text())
        assert meta["arch"] == "resnet50" and meta["init"]["file"] == file and meta["training"]["recipe"] == "official"
        assert meta["training"]["channels_last"] is True and meta["lm"]["max_length"] in (512, 112, 97)
    assert json.loads((work / "models" / "mgca" / "meta.json").read_text())["lm"]["layers"] == 6
    assert "worker" not in capsys.readouterr().err.lower()  # the input pipeline's workers ended cleanly
    method, models = "mflag", work / "models" / "mflag"
    runs = work / "results" / "runs" / method
    assert features.main(["--encoder", str(models), "--stores", str(work / "store"), "--datasets", "chexpert",
                          "--out", str(work / "features")] + p) == 0
    assert json.loads((work / "features" / "chexpert" / "features.json").read_text())["crop"] == "center"
    assert probe.main(["--method", method, "--datasets", "chexpert", "--features", str(work / "features"),
                       "--stores", str(work / "store"), "--splits", str(work / "splits"),
                       "--encoder-meta", str(models / "meta.json"), "--out", str(runs / "classification")] + p) == 0
    heads = ["--method", method, "--encoder", str(models), "--stores", str(work / "store"), "--splits", str(work / "splits")]
    assert segment.main(heads + ["--datasets", "siim", "--out", str(runs / "segmentation")] + p) == 0
    assert detect.main(heads + ["--datasets", "object_cxr", "--out", str(runs / "detection")] + p) == 0
    records = [json.loads(f.read_text()) for f in sorted(runs.rglob("*.json")) if f.parent.name in
               ("classification", "segmentation", "detection")]
    by_task = {r["task"]: r for r in records if "task" in r}
    assert set(by_task) == {"classification", "segmentation", "detection"}, sorted(by_task)
    assert all(r["profile"] == "paper" and r["data_kind"] == "phantom" and r["status"] == "ok" for r in by_task.values())
    assert by_task["segmentation"]["train_augment"] == "shift_scale_rotate" and by_task["segmentation"]["encoder_bn"] == "train"
    assert by_task["detection"]["head_variant"] == "mgca" and by_task["detection"]["fraction"] == 1
    assert by_task["segmentation"]["input_size"] == 224 and by_task["detection"]["input_size"] == 224
    assert report.main(["--results", str(work / "results" / "runs"), "--out", str(work / "tables")]) == 0
    assert any((work / "tables").glob("*.md"))
