"""Released-checkpoint import: each known key layout maps onto the encoder exactly."""

import pickle

import pytest
import torch
import torchvision
from support import data_error

from benchmark.import_weights import main
from benchmark.pretraining.encoders import ImageEncoder, save_encoder
from benchmark.pretraining.import_weights import import_encoder


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(1)
    net = torchvision.models.resnet18(weights=None)
    for p in net.parameters():
        p.data.normal_()
    return net.state_dict()


def _same_weights(encoder: ImageEncoder, tv_state: dict) -> bool:
    ours = encoder.state_dict()
    return torch.equal(ours["stem.0.weight"], tv_state["conv1.weight"]) and torch.equal(
        ours["layer4.1.bn2.running_var"], tv_state["layer4.1.bn2.running_var"]) and torch.equal(
        ours["stem.1.bias"], tv_state["bn1.bias"])


def _sequential(tv_state: dict) -> dict:
    index = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}
    return {index[k.split(".")[0]] + k[len(k.split(".")[0]):]: v for k, v in tv_state.items() if not k.startswith("fc.")}


@pytest.mark.parametrize("layout,build,suffix", [
    ("mflag-official", lambda s: {f"encoder.{k}": v for k, v in s.items() if not k.startswith("fc.")}, "_encoder.pth"),
    ("mflag-official", lambda s: {**{f"encoder.{k}": v for k, v in _sequential(s).items()},
                                  "proj_v.0.weight": torch.zeros(2, 2)}, "_total.pth"),
    ("mgca-lightning", lambda s: {"state_dict": {**{f"img_encoder_q.model.{k}": v for k, v in s.items()},
                                                 "text_encoder_q.model.embeddings.word_embeddings.weight": torch.zeros(3, 2)},
                                  "epoch": 49}, ".ckpt"),
    ("gloria-lightning", lambda s: {"state_dict": {f"gloria.img_encoder.model.{k}": v for k, v in s.items()}}, ".ckpt"),
    ("plain-resnet", lambda s: dict(s), ".pth"),
    ("mflag-ddp", lambda s: {f"module.encoder.{k}": v for k, v in s.items()}, "_total.pth"),
])
def test_layouts_import_exactly(tmp_path, source, layout, build, suffix):
    path = tmp_path / f"release{suffix}"
    torch.save(build(source), path)
    encoder, info = import_encoder(path, "resnet18")
    assert info["layout"] == layout
    assert _same_weights(encoder, source)


def test_own_safetensors_round_trip(tmp_path, source):
    enc = ImageEncoder("resnet18")
    enc.stem[0].weight.data.copy_(source["conv1.weight"])
    save_encoder(enc, tmp_path, {"method": "x"})
    again, info = import_encoder(tmp_path / "encoder.safetensors", "resnet18")
    assert torch.equal(again.stem[0].weight, source["conv1.weight"]) and info["layout"] == "plain-resnet"


def test_unknown_layout_lists_unmatched_keys(tmp_path, source):
    path = tmp_path / "odd.pth"
    torch.save({f"backbone.body.{k}": v for k, v in source.items()}, path)
    msg = data_error(import_encoder, path, "resnet18")
    assert "unknown checkpoint layout" in msg and "backbone.body.conv1.weight" in msg


def test_wrong_architecture_is_reported(tmp_path, source):
    path = tmp_path / "r18.pth"
    torch.save(source, path)
    assert "unknown checkpoint layout for resnet50" in data_error(import_encoder, path, "resnet50")


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_arbitrary_pickles_are_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": _Payload()}))
    msg = data_error(import_encoder, path, "resnet18")
    assert "weights_only" in msg
    assert "this must never run" not in capsys.readouterr().out


def test_cli_writes_encoder(tmp_path, source):
    path = tmp_path / "m.ckpt"
    torch.save({"state_dict": {f"img_encoder_q.model.{k}": v for k, v in source.items()}}, path)
    assert main(["--checkpoint", str(path), "--arch", "resnet18", "--method", "mgca-released",
                 "--out", str(tmp_path / "out")]) == 0
    from benchmark.pretraining.encoders import load_encoder

    enc, meta = load_encoder(tmp_path / "out")
    assert meta["layout"] == "mgca-lightning" and _same_weights(enc, source)


# BenchX release files (Hugging Face youngzhou12/*), with the nesting and prefixes its loader strips
BENCHX = {
    "M-FLAG_total.pth": ("mflag-official", lambda s: {**{f"encoder.{k}": v for k, v in s.items()},
                                                       "lm_model.encoder.layer.0.output.dense.weight": torch.zeros(2, 2),
                                                       "proj_t.0.weight": torch.zeros(2, 2)}),
    "MGCA_ResNet.ckpt": ("mgca-lightning", lambda s: {"state_dict": {**{f"img_encoder_q.model.{k}": v for k, v in s.items()},
                                                                     "img_encoder_q.global_embed.head.0.weight": torch.zeros(2, 2),
                                                                     "prototype_layer.weight": torch.zeros(4, 2)}}),
    "ConVIRT.pth": ("benchx-convirt", lambda s: {"model": {**{f"visual.model.{k}": v for k, v in s.items()},
                                                           "linguistic.model.embeddings.word_embeddings.weight": torch.zeros(3, 2),
                                                           "vision_projection.0.weight": torch.zeros(2, 2)}}),
    "GLoRIA.ckpt": ("gloria-lightning", lambda s: {"state_dict": {**{f"gloria.img_encoder.model.{k}": v for k, v in s.items()},
                                                                  "gloria.img_encoder.global_embedder.weight": torch.zeros(2, 2),
                                                                  "gloria.text_encoder.model.pooler.dense.bias": torch.zeros(2)}}),
}


@pytest.mark.parametrize("name", sorted(BENCHX))
def test_benchx_releases_import_exactly(tmp_path, source, name):
    layout, build = BENCHX[name]
    torch.save(build(source), tmp_path / name)
    encoder, info = import_encoder(tmp_path / name, "resnet18")
    assert info["layout"] == layout
    assert _same_weights(encoder, source)
