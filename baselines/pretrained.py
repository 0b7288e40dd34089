"""An encoder from a checkpoint file: your own (or a released) model as a method of the pipeline.

``options: {checkpoint: PATH, arch: resnet50 | auto, sha256: optional}`` in a methods.yaml
entry. The checkpoint is read through the key-mapping table of ``benchmark.pretraining.import_weights``
(official M-FLAG, MGCA and GLoRIA layouts, BenchX releases, plain torchvision ResNets);
nothing is trained. With ``sha256`` the file must match it, so a checkpoint replaced at the
same path is an error rather than a silently stale result. A missing file is an error: a
``pretrained`` method never falls back to random weights.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.core.errors import DataError
from benchmark.pretraining.methods import PretrainMethod, register_method


@register_method("pretrained")
class PretrainedCheckpoint(PretrainMethod):
    trains = False

    def initialize(self) -> None:
        from benchmark.data.store import sha256_file
        from benchmark.pretraining.import_weights import detect_arch, import_encoder

        path = Path(str(self.cfg.get("checkpoint", "")))
        if not path.is_file():
            raise DataError(path, "checkpoint of a `pretrained` method not found (options.checkpoint in methods.yaml)")
        expected = self.cfg.get("sha256")
        if expected and sha256_file(path) != expected:
            raise DataError(path, "checkpoint differs from the sha256 its methods.yaml entry records")
        arch = str(self.cfg.get("arch", "auto"))
        encoder, info = import_encoder(path, detect_arch(path) if arch == "auto" else arch)
        self.encoder = encoder
        self.source = {**info, "checkpoint": str(path)}
