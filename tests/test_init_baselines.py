"""Init baselines: ImageNet weights only from the local cache, and said so when absent."""

import pytest
import torch
import torchvision

from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.methods import TextInput, WeightsUnavailable, plugin_class


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_imagenet_absent_is_reported_not_replaced(torch_home):
    method = plugin_class("imagenet")(ImageEncoder("resnet18"), TextInput(), {})
    before = method.encoder.stem[0].weight.clone()
    with pytest.raises(WeightsUnavailable, match="weights not available offline"):
        method.initialize()
    assert torch.equal(method.encoder.stem[0].weight, before)


def test_imagenet_loads_from_local_cache(torch_home, monkeypatch):
    import hashlib

    from benchmark.pretraining import imagenet

    torch.manual_seed(3)
    net = torchvision.models.resnet18(weights=None)
    (torch_home / "checkpoints").mkdir(parents=True)
    path = torch_home / "checkpoints" / "fake.pth"
    torch.save(net.state_dict(), path)
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]  # torchvision names carry their hash's prefix
    path.rename(torch_home / "checkpoints" / f"resnet18-{prefix}.pth")
    monkeypatch.setattr(imagenet, "weight_url", lambda arch, version: f"https://example.org/resnet18-{prefix}.pth")
    method = plugin_class("imagenet")(ImageEncoder("resnet18"), TextInput(), {})
    method.initialize()
    assert torch.equal(method.encoder.stem[0].weight, net.conv1.weight)
    assert torch.equal(method.encoder.layer4[1].bn2.running_mean, net.layer4[1].bn2.running_mean)
    assert method.source["file"] == f"resnet18-{prefix}.pth" and method.source["sha256"].startswith(prefix)


def test_a_file_that_is_not_torchvisions_is_refused(torch_home):
    torch.manual_seed(3)
    name = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    (torch_home / "checkpoints").mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), torch_home / "checkpoints" / name)
    method = plugin_class("imagenet")(ImageEncoder("resnet18"), TextInput(), {})
    with pytest.raises(WeightsUnavailable, match="does not start with f37072fd"):
        method.initialize()


def test_pretrain_and_features_stages_record_missing_imagenet_weights(torch_home, phantom_root, tmp_path):
    import json

    from benchmark import features, prepare, pretrain

    assert prepare.main(["--dataset", "mimic", "--root", str(phantom_root / "mimic"), "--out", str(tmp_path / "mimic"),
                         "--profile", "smoke"]) == 0
    assert pretrain.main(["--method", "imagenet", "--store", str(tmp_path / "mimic"), "--text", str(tmp_path / "none"),
                          "--out", str(tmp_path / "model"), "--profile", "smoke"]) == 0
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert "weights not available offline" in meta["unavailable"]
    assert not (tmp_path / "model" / "encoder.safetensors").exists()  # no random weights in their place
    assert features.main(["--encoder", str(tmp_path / "model"), "--stores", str(tmp_path / "none"), "--datasets",
                          "rsna", "covidx", "--out", str(tmp_path / "feats"), "--profile", "smoke"]) == 0
    for dataset in ("rsna", "covidx"):
        assert json.loads((tmp_path / "feats" / dataset / "features.json").read_text())["unavailable"] == meta["unavailable"]
