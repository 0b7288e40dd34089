"""Floating-point settings a computing stage applies before it builds a tensor.

Why a stage has them: a short training run on tiny data amplifies rounding differences.
In float32 the CPU kernel in use (AVX-512, AVX2 or plain C; oneDNN's ISA; MKL's code
path) and the thread count change the last bits of convolutions and reductions, and a
few dozen optimiser steps turn those bits into points of AUROC or Dice (measured: the
smoke profile's RSNA Dice moved from 6.7 to 1.7 between an AMD AVX2 and an Intel
AVX-512 machine). In float64 the same differences start ~1e9 times smaller and stay far
below any threshold a metric applies, so the ``smoke`` profile (what CI compares with
golden numbers) computes in float64; the larger profiles keep float32 for speed and say
so in every result (``precision``).

``configure(profile)`` sets torch's default dtype and thread count; code that makes
tensors takes :func:`dtype` instead of assuming float32.
"""

from __future__ import annotations

import os

import numpy as np
import torch

PRECISIONS: dict[str, torch.dtype] = {"float32": torch.float32, "float64": torch.float64}
DEFAULT_PRECISION = "float32"


def precision_of(profile: dict) -> str:
    """The profile's ``precision`` (float32 when the profile does not say)."""
    name = str(profile.get("precision", DEFAULT_PRECISION))
    if name not in PRECISIONS:
        from benchmark.core.errors import DataError

        raise DataError(None, f"profile {profile.get('name')!r}: precision {name!r} is not one of {', '.join(PRECISIONS)}")
    return name


def configure(profile: dict, precision: str | None = None) -> str:
    """Apply the profile's precision (or ``precision``) and thread count to this process; returns the precision."""
    name = precision or precision_of(profile)
    torch.set_default_dtype(PRECISIONS[name])
    torch.set_num_threads(thread_count(profile))
    return name


def thread_count(profile: dict) -> int:
    """The profile's ``pretrain.num_threads``, unless ``OMP_NUM_THREADS`` in the environment asks for
    fewer: a user who pins a run to one thread gets one (and a process that will be forked, as
    mutmut forks a test run per mutant, never starts the thread pool a forked child deadlocks on)."""
    threads = int((profile.get("pretrain") or {}).get("num_threads", 2))
    asked = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(asked)) if asked.isdigit() and int(asked) > 0 else threads


def dtype() -> torch.dtype:
    """The floating dtype tensors of this process are made in."""
    return torch.get_default_dtype()


def np_dtype() -> np.dtype:
    return np.dtype(current())


def current() -> str:
    """The name of the precision this process computes in (recorded in every result)."""
    return str(torch.get_default_dtype()).removeprefix("torch.")
