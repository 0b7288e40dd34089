"""One checked schema for each section of a profile in ``params.yaml``.

Every stage reads its settings through :func:`benchmark.core.config.load_profile`, which checks
the whole profile here before any work: types (an integer where an integer belongs, so
``seeds: ["0"]`` or ``lr: 1e-3`` -- which YAML reads as the *string* "1e-3" -- are refused),
ranges (lr > 0, batch >= 1, fractions in 1..100, epochs and patience >= 1) and unknown keys
(a typo such as ``epocs:`` names the closest valid key). A failure is one line naming the
file and the key's full path.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[int, Field(ge=1, le=100)]
Probability = Annotated[float, Field(gt=0, lt=1)]


class Section(BaseModel):
    """Strict: no unknown keys, no type coercion (a string is never read as a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _unique(values: list, what: str) -> list:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must not repeat a value")
    return values


class Runs(Section):
    """What every downstream task shares: seeds and training fractions."""

    seeds: Annotated[list[NonNegativeInt], Field(min_length=1)]
    fractions: Annotated[list[Fraction], Field(min_length=1)]

    @model_validator(mode="after")
    def _distinct(self):
        _unique(self.seeds, "seeds")
        _unique(self.fractions, "fractions")
        return self


class PhantomSection(Section):
    seed: NonNegativeInt
    image_size: Annotated[int, Field(ge=16)]
    workers: PositiveInt = 1
    datasets: dict[str, dict[str, int | float]]


class StoreSection(Section):
    image_size: Annotated[int, Field(ge=16)]
    decode: Literal["full", "reduced"] = "full"  # reduced: JPEG's DCT-scaled decoding (benchmark.data.store.DECODE_MODES)
    reader_options: dict[str, dict[str, str]] = {}  # dataset -> reader option -> value (checked by the reader)


class LMSection(Section):
    name: str
    max_length: PositiveInt
    batch_size: PositiveInt


class PretrainSection(Section):
    arch: Literal["resnet18", "resnet34", "resnet50", "resnet101"]
    input_size: Annotated[int, Field(ge=32)]
    epochs: PositiveInt
    batch_size: Annotated[int, Field(ge=2)]  # BatchNorm needs two samples
    lr: PositiveFloat
    weight_decay: NonNegativeFloat
    warmup_steps: NonNegativeInt = 0
    num_threads: PositiveInt = 2
    checkpoint_every: NonNegativeInt = 0
    text_max_length: PositiveInt | None = None
    text_trainable_layers: NonNegativeInt | None = None
    cache_frozen_text: bool = True
    init: Literal["random", "imagenet"] = "random"  # the encoder's start (the official code: imagenet)
    imagenet_weights: Literal["IMAGENET1K_V1", "IMAGENET1K_V2"] = "IMAGENET1K_V1"
    # how a method trains (benchmark.pretraining.recipe); `recipe: official` takes each method's
    # official values from methods.yaml over these (the paper profile)
    recipe: Literal["profile", "official"] = "profile"
    batch_per_process: PositiveInt | None = None
    gather: bool = True
    optimizer: Literal["adamw", "adam"] = "adamw"
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] | None = None
    schedule: Literal["cosine", "cosine_restarts"] = "cosine"
    warmup_share: Annotated[float, Field(ge=0, lt=1)] | None = None
    restart_share: Annotated[float, Field(gt=0, le=1)] | None = None
    eta_min: NonNegativeFloat = 0.0
    amp: Literal["none", "float16", "bfloat16"] = "none"
    grad_clip: PositiveFloat | None = None
    augment: Literal["crop"] | list[dict] = "crop"
    lm_layers: PositiveInt | None = None
    upsample_299: bool = False
    # the input pipeline (benchmark.data.prefetch): processes that make batches ahead of the model
    # (0: the training process; auto: one per core but one), batches each keeps ready, and NHWC layout
    loader_workers: NonNegativeInt | Literal["auto"] = 0
    prefetch_batches: PositiveInt = 4
    channels_last: bool = False
    method_options: dict[str, dict] = {}
    method_overrides: dict[str, dict] = {}

    @model_validator(mode="after")
    def _restarts_have_a_period(self):
        if self.schedule == "cosine_restarts" and self.restart_share is None:
            raise ValueError("schedule cosine_restarts needs restart_share (the restart period as a share of the run's steps)")
        return self

    @model_validator(mode="after")
    def _overrides_are_settings(self):
        for method, values in self.method_overrides.items():
            unknown = set(values) - set(PretrainSection.model_fields) - {"method_options", "method_overrides"}
            if unknown:
                raise ValueError(f"method_overrides.{method}: unknown setting {sorted(unknown)[0]!r}")
            try:
                PretrainSection.model_validate({**self.model_dump(), **values, "method_overrides": {}})
            except ValidationError as err:
                first = err.errors()[0]
                raise ValueError(f"method_overrides.{method}.{'.'.join(map(str, first['loc']))}: "
                                 f"{first['msg'][0].lower()}{first['msg'][1:]}") from None
        return self


class ProbeSection(Runs):
    solver: Literal["adamw", "lbfgs"] = "adamw"
    c_grid: Annotated[list[PositiveFloat], Field(min_length=1)] | None = None
    max_iter: PositiveInt = 1000
    tol: PositiveFloat = 1e-6  # L-BFGS stopping tolerance (scikit-learn's default: 1e-4)
    lr: PositiveFloat
    weight_decay: NonNegativeFloat
    batch_size: PositiveInt
    max_epochs: PositiveInt
    patience: PositiveInt
    input_size: Annotated[int, Field(ge=32)]
    eval_crop: Literal["resize", "center"] = "resize"  # center: MGCA's Resize(256) + CenterCrop(224) of the features
    train_augment: Literal["none", "mgca"] = "none"  # mgca: MGCA's training crops, encoded per batch (AdamW only)
    bootstrap: NonNegativeInt = 1000
    loader_workers: NonNegativeInt | Literal["auto"] = 0  # processes that read feature-extraction batches ahead

    @model_validator(mode="after")
    def _augmented_probe_is_adamw(self):
        if self.train_augment != "none" and self.solver != "adamw":
            raise ValueError(f"train_augment {self.train_augment} trains on batches: set solver adamw")
        return self


class OpenMMLabSection(Section):
    config: str
    max_epochs: PositiveInt
    patience: PositiveInt | None = None  # mmengine's EarlyStoppingHook; None: train every epoch
    cfg_options: dict = {}


HeadSize = Annotated[int, Field(ge=32, multiple_of=32)]  # the encoder's stride-32 maps
SegmentSize = Annotated[int, Field(ge=32, multiple_of=16)]


class HeadSection(Runs):
    backend: Literal["native", "openmmlab"] = "native"
    openmmlab: OpenMMLabSection | None = None
    lr: PositiveFloat
    weight_decay: NonNegativeFloat
    max_epochs: PositiveInt
    patience: PositiveInt
    input_size: HeadSize | dict[str, HeadSize]  # one for all datasets, or one per dataset
    cache_features: bool = True
    # native heads: an epoch makes passes over the training set until it has this many steps (0: one pass)
    min_steps_per_epoch: NonNegativeInt = 0
    encoder_bn: Literal["eval", "train"] = "eval"  # train: MGCA's frozen encoder with batch-statistics BatchNorm
    bootstrap: NonNegativeInt = 1000

    @model_validator(mode="after")
    def _train_bn_is_not_cached(self):
        if self.encoder_bn == "train" and self.cache_features:
            raise ValueError("encoder_bn train changes the maps every batch: set cache_features false")
        return self


class SegmentSection(HeadSection):
    batch_size: dict[str, Annotated[int, Field(ge=2)]]
    balance_train: list[str] = []
    decoder_channels: Annotated[list[PositiveInt], Field(min_length=4, max_length=5)]  # 4: stride-2 output, upsampled
    input_size: SegmentSize | dict[str, SegmentSize]
    augment: Literal["none", "shift_scale_rotate"] = "none"  # benchmark/evaluation/mask_augment.py (MGCA's)

    @model_validator(mode="after")
    def _augmented_batches_are_not_cached(self):
        if self.augment != "none" and self.cache_features:
            raise ValueError(f"augment {self.augment} changes the images every batch: set cache_features false")
        return self


class LowData(Section):
    lr: PositiveFloat | None = None
    batch_size: Annotated[int, Field(ge=2)] | None = None


class DetectSection(HeadSection):
    batch_size: Annotated[int, Field(ge=2)]
    variant: Literal["clean", "mgca"] = "clean"  # YOLOv3's neck, loss and decoding (benchmark/evaluation/yolo.py)
    low_data: dict[str, LowData] = {}
    widths: Annotated[list[Annotated[int, Field(ge=2, multiple_of=2)]], Field(min_length=3, max_length=3)]
    objectness_prior: Probability | None = None
    conf_threshold: Annotated[float, Field(ge=0, lt=1)]
    nms_iou: Annotated[float, Field(gt=0, le=1)]


class DatasetRoot(Section):
    root: str


class Profile(Section):
    seed: NonNegativeInt
    data_kind: Literal["phantom", "real"]
    precision: Literal["float32", "float64"] = "float32"
    phantom: PhantomSection | None = None
    datasets: dict[str, DatasetRoot] | None = None
    store: StoreSection
    lm: LMSection
    pretrain: PretrainSection
    probe: ProbeSection
    segment: SegmentSection
    detect: DetectSection


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The valid keys where ``loc`` points (for "did you mean")."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        if field is None:
            return []
        inner = field.annotation
        candidates = [a for a in getattr(inner, "__args__", (inner,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not candidates:
            return []
        model = candidates[0]
    return list(model.model_fields)


def profile_problem(profile: dict) -> str | None:
    """The first problem of a profile mapping as ``key.path: what is wrong``, or None."""
    try:
        Profile.model_validate(profile)
    except ValidationError as err:
        first = err.errors()[0]
        loc = tuple(first["loc"])
        where = ".".join(str(p) for p in loc)
        if first["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(loc[-1]), _fields_at(Profile, loc), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown key{hint}"
        else:
            message = first["msg"].removeprefix("Value error, ")
            message = message[0].lower() + message[1:]
            if "input" in first and first["type"] in ("float_type", "int_type", "bool_type", "string_type"):
                message += f", got {first['input']!r}"
        more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
        return f"{where}: {message}{more}"
    return None
