"""How a method trains, as data: optimizer, schedule, precision, clipping, augmentation, gather.

The engine (:mod:`benchmark.pretraining.engine`) is one loop for every method; what differs
between the official recipes is read here from the profile's ``pretrain`` settings, which the
``paper`` profile takes from each method's ``recipe:`` in ``benchmark/configs/methods.yaml``
(every value there names the official file it comes from; ``docs/protocol.md`` lists them).
Settings a profile leaves out keep the values the CPU profiles have always used (AdamW,
linear warm-up + cosine, float32, no clipping, a square crop of 0.8-1 of the side, losses over
the global batch), so the default and smoke numbers do not move.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch

from benchmark.core.errors import DataError

OPTIMIZERS = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}
#: what the engine does for a setting a profile leaves out (the CPU profiles' long-standing choices)
DEFAULTS = {"optimizer": "adamw", "betas": None, "schedule": "cosine", "warmup_steps": 0, "warmup_share": None,
            "restart_share": None, "eta_min": 0.0, "amp": "none", "grad_clip": None, "augment": "crop", "gather": True,
            "batch_per_process": None, "init": "random", "channels_last": False}
SCHEDULES = ("cosine", "cosine_restarts")
AMP_DTYPES = {"none": None, "float16": torch.float16, "bfloat16": torch.bfloat16}


def applied(cfg: dict) -> dict:
    """The training settings a run used, defaults filled in (recorded in the model's meta.json)."""
    keys = ("epochs", "batch_size", "lr", "weight_decay", "imagenet_weights", "text_max_length", "lm_layers", *DEFAULTS)
    return {"recipe": cfg.get("recipe", "profile"),
            **{key: cfg[key] if cfg.get(key) is not None else DEFAULTS.get(key) for key in keys}}


def augment_list(cfg: dict) -> list | None:
    """The recipe's augmentation list, or None for the plain square crop (``augment`` unset or "crop")."""
    return None if cfg.get("augment") in (None, "crop") else list(cfg["augment"])


def build_optimizer(params: list[torch.nn.Parameter], cfg: dict) -> torch.optim.Optimizer:
    """``optimizer`` (adamw | adam) with ``lr``, ``weight_decay`` and optional ``betas``."""
    name = str(cfg.get("optimizer", "adamw"))
    if name not in OPTIMIZERS:
        raise DataError(None, f"pretrain: optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")
    kwargs = {"lr": float(cfg["lr"]), "weight_decay": float(cfg["weight_decay"])}
    if cfg.get("betas") is not None:
        kwargs["betas"] = tuple(float(b) for b in cfg["betas"])
    return OPTIMIZERS[name](params, **kwargs)


def warmup_steps(cfg: dict, total: int) -> int:
    """``warmup_share`` of the run's steps (MGCA: 40 %) or ``warmup_steps``."""
    if cfg.get("warmup_share") is not None:
        return int(float(cfg["warmup_share"]) * total)
    return int(cfg.get("warmup_steps") or 0)


def cosine_with_warmup(step: int, total: int, warmup: int, floor: float = 0.0) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine decay to ``floor`` at ``total``."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def cosine_restarts(step: int, period: int, floor: float) -> float:
    """LR multiplier of ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(T_0=period, T_mult=1)``
    with ``eta_min = floor * lr``: cosine from 1 to ``floor`` over ``period`` steps, then again."""
    t = step % period
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t / period))


def lr_multiplier(cfg: dict, total: int) -> Callable[[int], float]:
    """The schedule of ``cfg`` as a function of the global step, for ``LambdaLR``.

    ``cosine``: warm-up (``warmup_steps`` or ``warmup_share``) then one cosine decay to ``eta_min``.
    ``cosine_restarts``: restarts every ``restart_share`` x the run's steps (at least 1 step),
    down to ``eta_min``. ``eta_min`` is a learning rate (as in torch's schedulers), default 0."""
    kind = str(cfg.get("schedule", "cosine"))
    floor = float(cfg.get("eta_min") or 0.0) / float(cfg["lr"])
    if kind == "cosine":
        warmup = warmup_steps(cfg, total)
        return lambda step: cosine_with_warmup(step, total, warmup, floor)
    if kind == "cosine_restarts":
        period = max(1, int(float(cfg["restart_share"]) * total))
        return lambda step: cosine_restarts(step, period, floor)
    raise DataError(None, f"pretrain: schedule {kind!r} is not one of {', '.join(SCHEDULES)}")


def amp_dtype(cfg: dict, device: torch.device) -> torch.dtype | None:
    """``amp``: none (the stage's precision throughout), float16 (with a gradient scaler) or bfloat16.

    float16 is refused on CPU: torch's CPU autocast leaves reductions (``sum``, ``pow``) in float16,
    where CUDA's autocast computes them in float32, so the official fp16 recipes overflow there
    (M-FLAG's orthogonality loss at the first step) for a reason the GPU run does not have."""
    name = str(cfg.get("amp") or "none")
    if name not in AMP_DTYPES:
        raise DataError(None, f"pretrain: amp {name!r} is not one of {', '.join(AMP_DTYPES)}")
    if name == "float16" and device.type == "cpu":
        raise DataError(None, "pretrain: amp float16 needs a GPU (CPU autocast keeps reductions in float16); "
                        "use amp: bfloat16 on CPU (method_overrides)")
    return AMP_DTYPES[name]


@contextlib.contextmanager
def autocast(device: torch.device, dtype: torch.dtype | None) -> Iterator[None]:
    """Mixed precision for the forward pass and the loss when ``dtype`` is set."""
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A loss scaler for float16 (its small exponent range underflows small gradients); off otherwise."""
    return torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)


def clip_gradients(params: list[torch.nn.Parameter], cfg: dict) -> None:
    """``grad_clip``: the gradients' global L2 norm capped at this value (GLoRIA: 0.25); null: no clipping."""
    if cfg.get("grad_clip") is not None:
        torch.nn.utils.clip_grad_norm_(params, float(cfg["grad_clip"]))
