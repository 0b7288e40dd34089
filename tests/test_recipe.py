"""Training recipes as data: schedules against torch's own schedulers, optimizers, clipping,
augmentation pipelines, and the official recipes merged only where a profile asks for them."""

import math

import pytest
import torch
from support import data_error

from benchmark.core.config import load_profile
from benchmark.pretraining import recipe
from benchmark.pretraining.augment import augment_batch, build_pipeline, sample_seeds
from benchmark.pretraining.method_specs import get_method, load_method_specs, method_config, recipe_values


def _lrs(scheduler_factory, steps: int, lr: float = 0.1) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = scheduler_factory(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_restarts_is_torchs_cosine_annealing_warm_restarts():
    """M-FLAG's schedule: 0.2 x 50 steps = restarts every 10 steps down to eta_min, as torch's
    CosineAnnealingWarmRestarts(T_0=10, eta_min=1e-3) steps it (three periods compared)."""
    cfg = {"schedule": "cosine_restarts", "restart_share": 0.2, "eta_min": 1e-3, "lr": 0.1}
    ours = _lrs(lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, recipe.lr_multiplier(cfg, 50)), 30)
    torch_lrs = _lrs(lambda opt: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, eta_min=1e-3), 30)
    assert ours == pytest.approx(torch_lrs, rel=1e-12, abs=1e-15)
    assert ours[10] == pytest.approx(0.1) and min(ours) > 1e-3


def test_warmup_share_then_cosine_to_eta_min():
    """MGCA's: linear warm-up over int(0.4 x 20) = 8 steps, then one cosine decay to min_lr."""
    cfg = {"schedule": "cosine", "warmup_share": 0.4, "eta_min": 1e-8, "lr": 2e-5}
    mult = recipe.lr_multiplier(cfg, 20)
    assert [mult(s) for s in range(8)] == pytest.approx([(s + 1) / 8 for s in range(8)])
    assert mult(8) == pytest.approx(1.0)
    floor = 1e-8 / 2e-5
    assert mult(14) == pytest.approx(floor + (1 - floor) * 0.5)  # half-way through the 12 decay steps
    assert mult(20) == pytest.approx(floor) and mult(1000) == pytest.approx(floor)


def test_the_default_schedule_is_unchanged_without_eta_min():
    """Profiles that set none of the new keys train exactly as before: warm-up steps, then cosine to 0."""
    mult = recipe.lr_multiplier({"warmup_steps": 2, "lr": 1e-3}, 10)
    assert [mult(s) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi / 2)), 0.0]


def test_optimizer_and_clipping_follow_the_recipe():
    params = [torch.nn.Parameter(torch.ones(3))]
    adam = recipe.build_optimizer(params, {"optimizer": "adam", "lr": 5e-5, "weight_decay": 1e-6, "betas": [0.5, 0.999]})
    assert type(adam) is torch.optim.Adam and adam.defaults["betas"] == (0.5, 0.999)
    assert type(recipe.build_optimizer(params, {"lr": 1e-3, "weight_decay": 0.05})) is torch.optim.AdamW
    params[0].grad = torch.tensor([3.0, 4.0, 0.0])  # norm 5
    recipe.clip_gradients(params, {"grad_clip": 0.25})
    assert params[0].grad.norm().item() == pytest.approx(0.25, rel=1e-5)
    recipe.clip_gradients(params, {"grad_clip": None})
    assert params[0].grad.norm().item() == pytest.approx(0.25, rel=1e-5)
    with pytest.raises(Exception, match="optimizer 'sgd' is not one of adamw, adam"):
        recipe.build_optimizer(params, {"optimizer": "sgd", "lr": 1e-3, "weight_decay": 0})


def test_augmentation_is_seeded_per_sample():
    """The same sample seed gives the same augmented image wherever the sample lands (batch position,
    process); other seeds give other images; output is normalised like the evaluation input."""
    steps = [{"RandomCrop": {"size": "input_size"}}, {"RandomRotation": {"degrees": [0, 90]}},
             {"RandomPerspective": {"distortion_scale": 0.5, "p": 0.5}}, {"RandomAutocontrast": {"p": 0.5}}]
    pipeline = build_pipeline(steps, 24)
    images = torch.randint(0, 256, (4, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    seeds = sample_seeds(0, 3, [10, 11, 12, 13])
    batch = augment_batch(images, pipeline, seeds, 24)
    assert batch.shape == (4, 3, 24, 24) and batch.dtype == torch.get_default_dtype()
    assert batch.min() >= -1 and batch.max() <= 1
    reordered = augment_batch(images[[2, 0]], pipeline, [seeds[2], seeds[0]], 24)
    assert torch.equal(reordered[0], batch[2]) and torch.equal(reordered[1], batch[0])
    other = augment_batch(images[:1], pipeline, sample_seeds(0, 4, [10]), 24)  # next epoch
    assert not torch.equal(other[0], batch[0])
    assert sample_seeds(0, 3, [10]) != sample_seeds(1, 3, [10])


def test_augmentation_names_only_torchvision_transforms():
    with pytest.raises(Exception, match="augment step 'Lambda' is not one of"):
        build_pipeline([{"Lambda": {"lambd": "print"}}], 24)
    with pytest.raises(Exception, match="augment step RandomCrop"):
        build_pipeline([{"RandomCrop": {"sise": 24}}], 24)


def test_official_recipes_apply_only_where_the_profile_asks():
    """The paper profile (recipe: official) trains M-FLAG with its own schedule, precision and batch;
    the smoke profile's settings are untouched by the recipes."""
    paper = load_profile("params.yaml", "paper")["pretrain"]
    smoke = load_profile("params.yaml", "smoke")["pretrain"]
    mflag = get_method("mflag")
    cfg = method_config(mflag, paper)
    got = (cfg["schedule"], cfg["amp"], cfg["batch_per_process"], cfg["epochs"], cfg["gather"])
    assert got == ("cosine_restarts", "float16", 512, 51, False)
    assert method_config(get_method("mgca"), paper)["imagenet_weights"] == "IMAGENET1K_V2"
    assert method_config(get_method("gloria"), paper)["grad_clip"] == 0.25
    assert method_config(mflag, smoke) == {**smoke}
    assert method_config(get_method("mflag-no-ortho"), paper)["schedule"] == "cosine_restarts"  # base: inherits
    # documented-only settings never reach the engine
    assert "lm" not in recipe_values(get_method("mgca")) and recipe_values(get_method("mgca"))["lm_layers"] == 6


def test_every_recipe_value_names_its_source(tmp_path):
    for spec in load_method_specs().values():
        for key, entry in spec.recipe.items():
            assert entry["source"].split()[0].count("@") == 1, (spec.name, key)  # repository@commit file...
    bad = tmp_path / "methods.yaml"
    bad.write_text("m:\n  plugin: mflag\n  title: M\n  text: frozen\n  recipe:\n    lr: {value: 1.0e-3}\n")
    message = data_error(load_method_specs, bad)
    assert str(bad) in message and "recipe setting 'lr' needs a value and a source" in message
    bad.write_text("m:\n  plugin: mflag\n  title: M\n  text: frozen\n  recipe:\n    momentum: {value: 0.9, source: x@1 f}\n")
    assert "recipe setting 'momentum' is not one the engine applies" in data_error(load_method_specs, bad)


def test_protocol_doc_is_generated_from_the_config():
    """docs/protocol.md is what `python -m benchmark.protocol` writes from methods.yaml and params.yaml."""
    from benchmark.tools import protocol

    text = protocol.render()
    assert protocol.DOC.read_text() == text, "docs/protocol.md lags the config: run `python -m benchmark.protocol`"
    assert "| amp | `float16` | `float16` | M-FLAG-MICCAI2023@a7fea3c" in text
    assert "| schedule | `cosine` **differs** | `ReduceLROnPlateau" in text


def test_the_299_px_input_is_mgcas_upsample_and_travels_with_the_encoder(tmp_path):
    """MGCA's ResNet resizes every input to 299 x 299 (bilinear, corners aligned) before the stem;
    the saved encoder keeps the setting, so the probe's features are made the same way."""
    import torch.nn.functional as F

    from benchmark.pretraining.encoders import ImageEncoder, load_encoder, save_encoder

    torch.manual_seed(0)
    encoder = ImageEncoder("resnet18", upsample=299).eval()
    x = torch.randn(2, 3, 48, 48)
    plain = ImageEncoder("resnet18").eval()
    plain.load_state_dict(encoder.state_dict())
    with torch.no_grad():
        ours = encoder(x)
        ref = plain(F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=True))
    assert torch.equal(ours.pooled, ref.pooled) and ours.maps[3].shape[-1] == 10  # 299 / 32, rounded up
    save_encoder(encoder, tmp_path, {"method": "m"})
    assert load_encoder(tmp_path)[0].upsample == 299
