"""OpenMMLab backend (optional extra ``openmmlab``): MMSeg and MMDet heads on our encoders.

:mod:`benchmark.evaluation.openmmlab.components` registers one backbone (any method's checkpoint,
through :class:`benchmark.pretraining.encoders.ImageEncoder`), datasets and loading transforms that
read the preprocessed store, and metrics that call :mod:`benchmark.evaluation.metrics`, so numbers
are computed by the same code as the native heads. The configs in ``configs/`` are plain
MMEngine files; :mod:`benchmark.evaluation.openmmlab.run` fills in store, split, fraction, seed and
encoder and writes one result JSON per run with ``backend: openmmlab``.
"""

from __future__ import annotations

from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
INSTALL_HINT = ("pip install --find-links ../shared/wheels mmcv==2.1.0 && pip install -e '.[openmmlab]' "
                "(see the README: mmcv 2.1.0 needs its compiled ops)")


def openmmlab_missing() -> str | None:
    """Why the backend cannot run here (None when mmcv with ops, mmdet and mmseg import)."""
    try:
        import mmcv._ext  # noqa: F401  (mmcv-lite has no compiled ops; mmdet and mmseg need them)
        import mmdet  # noqa: F401
        import mmseg  # noqa: F401
    except ImportError as err:
        return f"the openmmlab backend is not installed ({err}); {INSTALL_HINT}"
    return None
