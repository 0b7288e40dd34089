"""The training engine: every method trains, torchrun matches one process, a killed run resumes exactly."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file
from support import data_error

from benchmark import embed, prepare, pretrain
from benchmark.data.store import Store
from benchmark.pretraining.checkpoint import load_checkpoint
from benchmark.pretraining.engine import KILL_AFTER_STEP_ENV

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pretrain_inputs(phantom_root, module_dir):
    """Smoke MIMIC store + report embeddings, and a params file with a few more steps than smoke."""
    work = module_dir("engine")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["profile"] = "smoke"
    params["profiles"]["smoke"]["pretrain"].update({"epochs": 2, "batch_size": 16, "checkpoint_every": 2})
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    common = ["--params", str(work / "params.yaml")]
    assert prepare.main(["--dataset", "mimic", "--root", str(phantom_root / "mimic"), "--out", str(work / "store")] + common) == 0
    assert embed.main(["--store", str(work / "store"), "--out", str(work / "text"), "--cache", str(work / "cache")] + common) == 0
    return work


def _pretrain(work: Path, method: str, out: Path, launcher: list[str] | None = None, env: dict | None = None,
              params: str = "params.yaml"):
    args = ["-m", "benchmark.pretrain", "--method", method, "--store", str(work / "store"), "--text", str(work / "text"),
            "--out", str(out), "--params", str(work / params)]
    cmd = (launcher or [sys.executable]) + args
    full_env = {**os.environ, "TQDM_DISABLE": "1", **(env or {})}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=full_env)


def _pretrain_here(work: Path, method: str, out: Path) -> None:
    """The same command in this process (no interpreter start-up)."""
    assert pretrain.main(["--method", method, "--store", str(work / "store"), "--text", str(work / "text"),
                          "--out", str(out), "--params", str(work / "params.yaml")]) == 0


def _ok(proc):
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.mark.parametrize("method", ["convirt", "gloria", "mgca", "mflag-no-ortho", "mflag-lm-unfrozen"])
def test_each_method_trains_and_records_parameters(pretrain_inputs, method, tmp_path):
    work, models = pretrain_inputs, tmp_path / "models"  # models in tmp_path: gone once the test passes
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["profiles"]["smoke"]["pretrain"].update({"epochs": 1, "checkpoint_every": 0})  # one epoch shows it trains
    (work / "one_epoch.yaml").write_text(yaml.safe_dump(params))
    assert pretrain.main(["--method", method, "--store", str(work / "store"), "--text", str(work / "text"),
                          "--out", str(models / method), "--params", str(work / "one_epoch.yaml")]) == 0
    meta = json.loads((models / method / "meta.json").read_text())
    log = (models / method / "train_log.csv").read_text().splitlines()
    assert len(log) == 1 + 1 and meta["epochs"] == 1  # header + one row per epoch
    assert meta["parameters"]["trainable"] > meta["encoder_parameters"]  # heads (and LM layers) train too
    assert meta["lm"]["name"] == "sentence-transformers/all-MiniLM-L6-v2"
    if method == "mflag-no-ortho":
        assert meta["lm"]["trainable_layers"] == 0 and meta["parameters"]["frozen"] == meta["lm"]["parameters"]
        log = pd.read_csv(models / method / "train_log.csv")
        assert (log["orthogonality"] == 0).all() and (log["loss"] - log["alignment"]).abs().max() < 1e-6
    else:  # smoke caps the trainable LM at its top layer; the other five and the embeddings are frozen
        assert meta["lm"]["trainable_layers"] == 1
        assert meta["parameters"]["frozen"] > 0.5 * meta["lm"]["parameters"]
    assert not (models / f"{method}.ckpt").exists()  # checkpoints go once the run is written


def test_supervised_control_trains_on_labels_and_finding_masks(pretrain_inputs, tmp_path):
    """The smoke profile's positive control (dense_weight 1) through ``benchmark.pretrain``: the store
    built from the MIMIC phantom has the finding masks, the log has both terms and each epoch's loss
    is their sum (epoch means of a linear combination), and the dense heads are saved with the model."""
    work = pretrain_inputs
    assert Store.open(work / "store").masks is not None
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["profiles"]["smoke"]["pretrain"].update({"epochs": 2, "checkpoint_every": 0})
    params["profiles"]["smoke"]["pretrain"]["method_overrides"] = {}
    (work / "two_epochs.yaml").write_text(yaml.safe_dump(params))
    assert pretrain.main(["--method", "supervised", "--store", str(work / "store"), "--text", str(work / "text"),
                          "--out", str(tmp_path / "supervised"), "--params", str(work / "two_epochs.yaml")]) == 0
    log = pd.read_csv(tmp_path / "supervised" / "train_log.csv")
    assert len(log) == 2 and (log["dense"] > 0).all() and (log["bce"] > 0).all()
    assert (log["loss"] - log["bce"] - log["dense"]).abs().max() < 1e-9
    saved = load_file(str(tmp_path / "supervised" / "model.safetensors"))
    assert {f"dense.{i}.weight" for i in range(3)} <= set(saved)


def test_mask_crops_follow_their_images():
    """A dense target is cropped with its own image's box: on 96 px films that are one bright
    rectangle each (the mask is that rectangle), the target (covered share > 0.5) and the cropped
    input's bright pixels overlap with IoU >= 0.9 (measured 0.94-1.0: the two resamplings differ at
    the edge only). The mask resized whole, ignoring the crop, measured 0.37-0.74; another image's mask less."""
    from benchmark.data.transforms import MEAN, STD
    from benchmark.pretraining.batches import PretrainBatches

    rng = np.random.default_rng(0)
    masks = np.zeros((8, 96, 96), np.uint8)
    for m in masks:
        top, left = rng.integers(0, 78, size=2)
        h, w = rng.integers(8, 18, size=2)
        m[top:top + h, left:left + w] = 1
    plan = PretrainBatches(masks * 255, np.arange(8), 4, 40, seed=5, masks=masks)
    x, idx, dense = plan((0, 1))
    assert dense.shape == (4, 1, 40, 40) and float(dense.min()) >= 0 and float(dense.max()) <= 1
    bright, target = (x[:, :1] * STD + MEAN) > 0.5, dense > 0.5
    iou = [[float((bright[i] & target[j]).sum() / (bright[i] | target[j]).sum()) for j in range(4)] for i in range(4)]
    assert all(iou[i][i] >= 0.9 for i in range(4)), iou
    assert all(iou[i][j] < 0.5 for i in range(4) for j in range(4) if i != j), iou
    with pytest.raises(ValueError, match="plain crop"):
        PretrainBatches(masks, np.arange(8), 4, 40, seed=5, masks=masks, augment=MFLAG_AUGMENT)


# Linear biases right before a BatchNorm have no effect on any output (the BatchNorm subtracts
# them); their gradient is zero up to rounding, which AdamW's normalisation turns into +-lr steps
# of either sign. They are left out of the comparison.
PRE_BN_BIASES = {"proj_v.0.bias", "proj_v.3.bias", "proj_t.0.bias", "proj_t.3.bias"}


def test_torchrun_two_processes_match_one(pretrain_inputs, tmp_path):
    """Two gloo processes with half the batch each == one process with the whole batch.

    AdamW divides by the gradient's magnitude, so entries whose gradient is at rounding level
    take steps of either sign: equality is per tensor, relative to how far it moved. Measured
    in the smoke profile's float64 on an Intel Xeon (AVX-512): the largest distance between the
    two runs is 2.9e-10 of how far the weights moved; with per-process BatchNorm (the classic DDP
    mistake, torch's BatchNorm left in place) it is 1.36. The bound 1e-6 sits between them with
    a margin of 1,000x on the honest side (in float32 the honest distance was up to 6 %).
    """
    work, models = pretrain_inputs, tmp_path / "models"
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["profiles"]["smoke"]["pretrain"].update({"epochs": 1, "batch_size": 24, "lr": 1.0e-2})
    (work / "ddp.yaml").write_text(yaml.safe_dump(params))
    _ok(_pretrain(work, "mflag", models / "single", params="ddp.yaml"))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = _ok(_pretrain(work, "mflag", models / "ddp", launcher, env={"OMP_NUM_THREADS": "1"}, params="ddp.yaml"))
    assert "resuming" not in proc.stdout
    single = load_file(str(models / "single" / "model.safetensors"))
    ddp = load_file(str(models / "ddp" / "model.safetensors"))
    assert json.loads((models / "ddp" / "meta.json").read_text())["world_size"] == 2
    assert single.keys() == ddp.keys()
    from benchmark.pretraining.engine import build_method
    from benchmark.pretraining.methods import TextInput, get_method
    init = build_method(get_method("mflag"), params["profiles"]["smoke"]["pretrain"], TextInput(dim=384), 0).state_dict()
    for key in single:
        if key in PRE_BN_BIASES:
            continue
        if not single[key].is_floating_point():
            assert torch.equal(single[key], ddp[key]), key  # BatchNorm step counters
            continue
        moved = (single[key] - init[key]).norm()
        assert moved > 0, key
        assert (single[key] - ddp[key]).norm() <= 1e-6 * moved, key


def test_killed_run_resumes_to_identical_weights(pretrain_inputs, capsys, tmp_path):
    work, models = pretrain_inputs, tmp_path / "models"
    _pretrain_here(work, "convirt", models / "straight")
    killed = _pretrain(work, "convirt", models / "resumed", env={KILL_AFTER_STEP_ENV: "3"})
    assert killed.returncode == -9  # SIGKILL after step 3; the last checkpoint is from step 2
    assert not (models / "resumed").exists()
    info = json.loads((models / "resumed.ckpt" / "checkpoint.json").read_text())
    assert info["step"] == 2
    _pretrain_here(work, "convirt", models / "resumed")
    out = capsys.readouterr().out
    assert "resuming from" in out and re.search(r"at step 2/\d+", out)
    a = load_file(str(models / "straight" / "model.safetensors"))
    b = load_file(str(models / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (models / "straight" / "train_log.csv").read_text() == (models / "resumed" / "train_log.csv").read_text()


def test_corrupt_or_foreign_checkpoint_is_rejected(pretrain_inputs, tmp_path):
    work, models = pretrain_inputs, tmp_path / "models"
    killed = _pretrain(work, "mflag", models / "victim", env={KILL_AFTER_STEP_ENV: "3"})
    assert killed.returncode == -9
    ckpt = tmp_path / "ckpt"
    shutil.copytree(models / "victim.ckpt", ckpt)
    fp = json.loads((ckpt / "checkpoint.json").read_text())["fingerprint"]
    model = torch.nn.Linear(2, 2)
    assert "different run configuration" in data_error(load_checkpoint, ckpt, model, "other")
    weights = ckpt / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "SHA-256 mismatch" in data_error(load_checkpoint, ckpt, model, fp)
    # the engine refuses to resume from the truncated file rather than half-loading it
    shutil.copy(weights, models / "victim.ckpt" / "weights.safetensors")
    proc = _pretrain(work, "mflag", models / "victim")
    assert proc.returncode != 0 and "SHA-256 mismatch" in proc.stderr
    shutil.rmtree(models / "victim.ckpt")


def _imagenet_params(work: Path, **pretrain) -> Path:
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["profiles"]["smoke"]["pretrain"].update({"epochs": 1, "checkpoint_every": 0, "init": "imagenet", **pretrain})
    path = work / "imagenet.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_a_trained_method_starts_from_the_cached_imagenet_file(pretrain_inputs, tmp_path, monkeypatch):
    """init: imagenet (the paper profile) loads torchvision's file from the torch hub cache and records
    its name, version and SHA-256. The file here is a small fake: a seeded ResNet-18 state dict whose
    name carries its own SHA-256 prefix, as torchvision's names do."""
    import hashlib

    import torchvision

    from benchmark.pretraining import imagenet

    work, models = pretrain_inputs, tmp_path / "models"
    torch.manual_seed(3)
    fake = tmp_path / "fake.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), fake)
    prefix = hashlib.sha256(fake.read_bytes()).hexdigest()[:8]
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    fake.rename(tmp_path / "hub" / "checkpoints" / f"resnet18-{prefix}.pth")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(imagenet, "weight_url", lambda arch, version: f"https://example.org/resnet18-{prefix}.pth")
    params = _imagenet_params(work, lr=1e-12)  # a step too small to move the weights: the start is what we see
    assert pretrain.main(["--method", "mflag", "--store", str(work / "store"), "--text", str(work / "text"),
                          "--out", str(models / "from-imagenet"), "--params", str(params)]) == 0
    meta = json.loads((models / "from-imagenet" / "meta.json").read_text())
    assert meta["init"]["kind"] == "imagenet" and meta["init"]["file"] == f"resnet18-{prefix}.pth"
    assert meta["init"]["weights"] == "IMAGENET1K_V1" and meta["init"]["sha256"].startswith(prefix)
    weights = load_file(str(models / "from-imagenet" / "encoder.safetensors"))
    start = torch.load(tmp_path / "hub" / "checkpoints" / f"resnet18-{prefix}.pth", weights_only=True)
    assert torch.allclose(weights["stem.0.weight"].float(), start["conv1.weight"], atol=1e-6)


def test_a_missing_imagenet_file_stops_the_stage_before_any_work(pretrain_inputs, tmp_path, monkeypatch, capsys):
    from benchmark.core.errors import run_cli

    work, models = pretrain_inputs, tmp_path / "models"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    params = _imagenet_params(work)
    with pytest.raises(SystemExit) as info:
        run_cli(pretrain.main, ["--method", "convirt", "--store", str(work / "store"), "--text", str(work / "text"),
                                "--out", str(models / "no-imagenet"), "--params", str(params)])
    err = capsys.readouterr()
    assert info.value.code == 2 and "Traceback" not in err.err
    line = err.err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "ImageNet weights IMAGENET1K_V1 for resnet18 are not in the torch hub cache" in line
    assert "put resnet18-f37072fd.pth into" in line and "python -m benchmark.imagenet --arch resnet18" in line
    assert "LM layers frozen" not in err.out  # stopped before the language model was loaded
    assert not (models / "no-imagenet").exists()


def test_official_recipes_train_with_their_settings(pretrain_inputs, tmp_path):
    """`recipe: official` (the paper profile's) through the engine with only the sizes shrunk: M-FLAG
    with warm restarts, its five augmentations, losses over each process's batch; GLoRIA with Adam
    (betas 0.5, 0.999) and clipping at 0.25; MGCA with a 40 % warm-up and the first 6 LM layers. Each
    run records the settings it trained with. The official float16 needs a GPU (CPU autocast keeps
    reductions in float16: M-FLAG's loss overflows at step 1, refused before work); bfloat16 here."""
    work = pretrain_inputs
    params = yaml.safe_load((work / "params.yaml").read_text())
    smoke = params["profiles"]["smoke"]
    smoke["precision"] = "float32"  # autocast casts float32 work: under float64 it would change nothing
    small = {"epochs": 1, "batch_per_process": 8, "init": "random", "amp": "bfloat16"}  # no ImageNet file offline
    # autocast in M-FLAG's run only; the 299-px input (39x the pixels of 48 px) is checked on the built model below
    no299 = {**small, "amp": "none", "upsample_299": False}
    overrides = {"mflag": small, "gloria": no299, "mgca": no299}
    smoke["pretrain"].update({"recipe": "official", "checkpoint_every": 0, "method_overrides": overrides})
    (work / "official.yaml").write_text(yaml.safe_dump(params))
    expected = {"mflag": {"schedule": "cosine_restarts", "amp": "bfloat16", "gather": False, "optimizer": "adamw", "lr": 2e-5},
                "gloria": {"optimizer": "adam", "betas": [0.5, 0.999], "grad_clip": 0.25, "text_max_length": 97, "amp": "none"},
                "mgca": {"warmup_share": 0.4, "eta_min": 1e-8, "lm_layers": 6, "text_max_length": 112}}
    for method, settings in expected.items():
        out = tmp_path / method
        assert pretrain.main(["--method", method, "--store", str(work / "store"), "--text", str(work / "text"),
                              "--out", str(out), "--params", str(work / "official.yaml")]) == 0
        meta = json.loads((out / "meta.json").read_text())
        assert meta["training"]["recipe"] == "official" and meta["training"]["batch_per_process"] == 8
        assert {k: meta["training"][k] for k in settings} == settings, method
        assert math.isfinite(meta["final_loss"])
    assert json.loads((tmp_path / "mflag" / "meta.json").read_text())["training"]["augment"][1] == {"RandomRotation": {"degrees": [0, 90]}}
    assert json.loads((tmp_path / "mgca" / "meta.json").read_text())["lm"]["layers"] == 6
    from benchmark.evaluation.downstream import FrozenEncoder
    from benchmark.pretraining.encoders import load_encoder, save_encoder
    from benchmark.pretraining.engine import build_method
    from benchmark.pretraining.method_specs import get_method, method_config
    from benchmark.pretraining.methods import TextInput

    paper = yaml.safe_load((REPO / "params.yaml").read_text())["profiles"]["paper"]["pretrain"]
    mgca = get_method("mgca")
    built = build_method(mgca, {**method_config(mgca, paper), "arch": "resnet18"}, TextInput(dim=8, encoder=None), 0)
    assert built.encoder.upsample == 299  # MGCA's recipe: every input resized to 299 x 299 before the stem
    save_encoder(built.encoder, tmp_path / "mgca299", {"method": "mgca"})
    assert load_encoder(tmp_path / "mgca299")[0].upsample == 299 and load_encoder(tmp_path / "mflag")[0].upsample is None
    assert FrozenEncoder.load(tmp_path / "mgca299").encoder.upsample is None  # the heads take the plain ResNet's maps
    smoke["pretrain"]["method_overrides"]["mflag"] = {**small, "amp": "float16"}
    (work / "official.yaml").write_text(yaml.safe_dump(params))
    assert "amp float16 needs a GPU" in data_error(pretrain.main, ["--method", "mflag", "--store", str(work / "store"),
                                                                "--text", str(work / "text"), "--out", str(tmp_path / "fp16"),
                                                                "--params", str(work / "official.yaml")])
    assert not (tmp_path / "fp16").exists()


MFLAG_AUGMENT = [{"RandomCrop": {"size": "input_size"}}, {"RandomRotation": {"degrees": [0, 90]}},
                 {"RandomPerspective": {"distortion_scale": 0.5, "p": 0.5}}, {"RandomAutocontrast": {"p": 0.5}}]


@pytest.mark.parametrize("augment", [None, MFLAG_AUGMENT], ids=["crop", "mflag-augment"])
def test_worker_processes_make_the_same_batches(pretrain_inputs, augment):
    """Each batch is a function of (epoch, step) alone: 2 worker processes, computing ahead and out
    of step with each other, deliver bit for bit the batches the training process makes itself, in
    order, across an epoch boundary; another epoch gives other pixels."""
    from benchmark.data import prefetch
    from benchmark.data.store import Store
    from benchmark.pretraining.batches import PretrainBatches

    store = Store.open(pretrain_inputs / "store")
    rows = np.arange(len(store.manifest))
    keys = [(epoch, step) for epoch in range(2) for step in range(3)]

    def plan():
        return PretrainBatches(store.images, rows, 4, 40, seed=3, rank=1, world_size=2, augment=augment)

    inline = list(prefetch.batches(plan(), keys))
    ahead = list(prefetch.batches(plan(), keys, workers=2, prefetch=2))
    assert len(ahead) == len(keys)
    for (x, idx), (y, idy) in zip(inline, ahead):
        assert x.shape == (4, 3, 40, 40) and torch.equal(idx, idy) and torch.equal(x, y)
    first, again = inline[0][0], plan()((1, 0))[0]
    assert not torch.equal(first, again)


def test_the_engine_trains_the_same_with_workers_and_channels_last(pretrain_inputs, tmp_path):
    """Through ``benchmark.pretrain``: 2 loader workers train the very weights the in-process batches
    train (M-FLAG's official augmentations); channels-last memory trains the same model up to
    rounding. Measured in the smoke profile's float64 on the AMD EPYC: channels-last vs NCHW differ
    by at most 1.1e-9 of how far a tensor moved (the biases before a BatchNorm, whose gradient is
    rounding-level, left out as in the torchrun test); the bound 1e-7 leaves 90x."""
    work = pretrain_inputs
    params = yaml.safe_load((work / "params.yaml").read_text())
    smoke = {**params["profiles"]["smoke"]["pretrain"], "epochs": 1, "batch_size": 8, "checkpoint_every": 0,
             "augment": MFLAG_AUGMENT}
    runs = {"inline": {}, "workers": {"loader_workers": 2, "prefetch_batches": 2}, "nhwc": {"channels_last": True}}
    weights = {}
    for name, settings in runs.items():
        params["profiles"]["smoke"]["pretrain"] = {**smoke, **settings}
        (work / f"{name}.yaml").write_text(yaml.safe_dump(params))
        assert pretrain.main(["--method", "mflag", "--store", str(work / "store"), "--text", str(work / "text"),
                              "--out", str(tmp_path / name), "--params", str(work / f"{name}.yaml")]) == 0
        weights[name] = load_file(str(tmp_path / name / "model.safetensors"))
    assert all(torch.equal(weights["inline"][k], weights["workers"][k]) for k in weights["inline"])
    meta = json.loads((tmp_path / "nhwc" / "meta.json").read_text())
    assert meta["training"]["channels_last"] is True and "loader_workers" not in meta["training"]
    from benchmark.pretraining.engine import build_method
    from benchmark.pretraining.methods import TextInput, get_method
    init = build_method(get_method("mflag"), smoke, TextInput(dim=384), 0).state_dict()
    worst = 0.0
    for key, value in weights["inline"].items():
        if key not in PRE_BN_BIASES and value.is_floating_point() and (value - init[key]).norm() > 0:
            worst = max(worst, float((value - weights["nhwc"][key]).norm() / (value - init[key]).norm()))
    print(f"channels-last vs NCHW: largest relative distance {worst:.3g}")
    assert worst <= 1e-7
