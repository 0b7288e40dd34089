"""Language models that train: tokenised reports and a BERT-family encoder with a frozen prefix.

ConVIRT, GLoRIA and MGCA train their text encoders, and M-FLAG's LM ablations unfreeze
some of its layers. :class:`TrainableTextEncoder` runs any BERT-family model from
:func:`benchmark.pretraining.text.load_lm` with the embeddings and the first ``frozen_layers``
transformer layers frozen. Frozen layers run in eval mode (no dropout) under
``no_grad``, so their output is a fixed function of the report: with
``cache_frozen=True`` it is computed once per report before training and read back
each step, which is exactly equivalent and much cheaper on a CPU. (This generalises
M-FLAG's cached [CLS] embeddings, where every layer is frozen.)

Word pieces are merged into words by summation (GLoRIA, MGCA) with the fast
tokenizer's ``word_ids``; special tokens belong to no word.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class ReportTokens:
    """Every pre-training report tokenised once: padded ids, mask and word index per token."""

    input_ids: torch.Tensor  # (N, L) int64
    attention_mask: torch.Tensor  # (N, L) int64
    word_ids: torch.Tensor  # (N, L) int64, -1 for special and padding tokens

    @classmethod
    def from_texts(cls, texts: list[str], tokenizer, max_length: int) -> "ReportTokens":
        enc = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        words = np.full(enc["input_ids"].shape, -1, dtype=np.int64)
        for i in range(len(texts)):
            ids = enc.word_ids(i)
            words[i] = [-1 if w is None else w for w in ids]
        return cls(enc["input_ids"], enc["attention_mask"], torch.from_numpy(words))

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def lengths(self, rows: torch.Tensor) -> int:
        """Longest real length among ``rows``: batches are trimmed to it."""
        return int(self.attention_mask[rows].sum(1).max())


@dataclass
class TextOutput:
    hidden: list[torch.Tensor]  # the last ``last_n`` layers' hidden states, each (B, T, H), last one last
    attention_mask: torch.Tensor  # (B, T)
    word_ids: torch.Tensor  # (B, T), -1 = no word
    cls_attention: torch.Tensor | None  # (B, T): last layer's attention from [CLS], mean over heads

    @property
    def cls(self) -> torch.Tensor:
        return self.hidden[-1][:, 0]


def merge_word_pieces(tokens: torch.Tensor, word_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum the word pieces of each word: (B, T, H) -> (B, W, H) and a (B, W) bool mask of real words."""
    n_words = int(word_ids.max()) + 1 if word_ids.numel() and int(word_ids.max()) >= 0 else 1
    onehot = (word_ids.unsqueeze(1) == torch.arange(n_words, device=word_ids.device).view(1, -1, 1)).to(tokens.dtype)  # (B, W, T)
    words = onehot @ tokens
    return words, onehot.sum(-1) > 0


def _first_rows(inverse: torch.Tensor, count: int) -> torch.Tensor:
    """For each of ``count`` unique values, the first row of ``inverse`` that maps to it."""
    first = torch.full((count,), len(inverse), dtype=torch.long)
    return first.scatter_reduce(0, inverse, torch.arange(len(inverse)), reduce="amin")


def _additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class TrainableTextEncoder(nn.Module):
    """A BERT-family LM whose embeddings and first ``frozen_layers`` layers are frozen.

    ``forward(rows)`` encodes the reports at those store rows (indices into ``tokens``).
    ``last_n`` layers' hidden states are returned (GLoRIA sums the last 4); with
    ``cls_attention`` the last layer's [CLS] attention comes too (MGCA's word weights).
    """

    def __init__(self, model: nn.Module, tokens: ReportTokens, frozen_layers: int, last_n: int = 1,
                 cls_attention: bool = False, cache_frozen: bool = True, batch_size: int = 64) -> None:
        super().__init__()
        base = model.base_model
        self.embeddings, self.layers = base.embeddings, base.encoder.layer
        n = len(self.layers)
        if not 0 <= frozen_layers <= n:
            raise ValueError(f"frozen_layers must be in 0..{n}, got {frozen_layers}")
        self.frozen_layers, self.last_n, self.want_attention = frozen_layers, last_n, cls_attention
        self.hidden_size = int(model.config.hidden_size)
        self.tokens = tokens
        self.requires_grad_(True)  # explicit: the model may come from a previous encoder
        for module in self._frozen_modules():
            module.requires_grad_(False)
        # hidden_states index j = output of layer j (0 = embeddings); which frozen ones are returned
        self._needed = sorted({frozen_layers} | {j for j in range(n - last_n + 1, frozen_layers + 1)}) if frozen_layers else []
        self._cache: dict[int, torch.Tensor] = {}
        if cache_frozen and frozen_layers:
            self._cache = self._encode_frozen_all(batch_size)

    def _frozen_modules(self) -> list[nn.Module]:
        return ([self.embeddings] + list(self.layers[:self.frozen_layers])) if self.frozen_layers else []

    def train(self, mode: bool = True) -> "TrainableTextEncoder":
        super().train(mode)
        for module in self._frozen_modules():
            module.eval()  # frozen layers never drop out: their output is a function of the text
        return self

    @torch.no_grad()
    def _run_frozen(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[int, torch.Tensor]:
        h = self.embeddings(input_ids=ids)
        out = {0: h} if 0 in self._needed else {}
        ext = _additive_mask(mask, h.dtype)
        for j, layer in enumerate(self.layers[:self.frozen_layers], start=1):
            h = layer(h, attention_mask=ext)[0]
            if j in self._needed:
                out[j] = h
        return out

    def _encode_frozen_all(self, batch_size: int) -> dict[int, torch.Tensor]:
        """Frozen-prefix outputs of every report; each distinct token sequence is encoded once."""
        was = self.training
        self.train(False)
        n, length = self.tokens.input_ids.shape
        unique, inverse = torch.unique(self.tokens.input_ids, dim=0, return_inverse=True)
        mask = self.tokens.attention_mask[_first_rows(inverse, len(unique))]
        cache = {j: torch.zeros(len(unique), length, self.hidden_size) for j in self._needed}
        order = torch.argsort(mask.sum(1))
        for start in range(0, len(unique), batch_size):
            rows = order[start:start + batch_size]
            t = int(mask[rows].sum(1).max())
            for j, h in self._run_frozen(unique[rows, :t], mask[rows, :t]).items():
                cache[j][rows, :t] = h
        self.train(was)
        return {j: c[inverse] for j, c in cache.items()}

    def forward(self, rows: torch.Tensor) -> TextOutput:
        rows = rows.cpu()
        device = next(self.parameters()).device
        t = self.tokens.lengths(rows)
        ids, mask = self.tokens.input_ids[rows, :t].to(device), self.tokens.attention_mask[rows, :t].to(device)
        if self._cache:
            states = {j: c[rows, :t].to(device) for j, c in self._cache.items()}
        elif self.frozen_layers:
            states = self._run_frozen(ids, mask)
        else:
            states = {}
        h = states[self.frozen_layers] if self.frozen_layers else self.embeddings(input_ids=ids)
        ext = _additive_mask(mask, h.dtype)
        hidden = dict(states)
        attention = None
        n = len(self.layers)
        for j in range(self.frozen_layers + 1, n + 1):
            last = j == n and self.want_attention
            out = self.layers[j - 1](h, attention_mask=ext, output_attentions=last)
            h = out[0]
            hidden[j] = h
            if last:
                attention = out[1][:, :, 0, :].mean(1)  # (B, T) from [CLS], mean over heads
        if self.want_attention and attention is None:  # every layer frozen: attention of the cached last layer
            raise ValueError("cls_attention needs the last layer to run (frozen_layers < number of layers)")
        return TextOutput([hidden[j] for j in range(n - self.last_n + 1, n + 1)], mask,
                          self.tokens.word_ids[rows, :t].to(device), attention)

    def parameter_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"trainable": trainable, "frozen": sum(p.numel() for p in self.parameters()) - trainable}
