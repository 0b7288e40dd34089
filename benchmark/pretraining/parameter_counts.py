"""``python -m benchmark.parameters``: trainable vs. frozen parameters in the paper configuration.

M-FLAG's efficiency claim (the paper reports 78 % fewer trainable parameters) comes from
freezing the language model. This module counts, by building the modules (no weights
needed), what each side trains: M-FLAG trains ResNet-50 + ``proj_v`` + ``proj_t`` and keeps a
BERT-base-sized LM frozen; a method that fine-tunes its text encoder trains the same
image side plus the BERT-base encoder. The arithmetic is printed so it can be checked.
"""

from __future__ import annotations

import argparse
import json

from torch import nn

from benchmark.pretraining.encoders import ImageEncoder
from benchmark.pretraining.projection import projection


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bert_base_parameters() -> int:
    """Parameters of a BERT-base encoder (12 layers, 768 hidden, 30,522-token vocabulary, with pooler)."""
    from transformers import BertConfig, BertModel

    return count(BertModel(BertConfig(), add_pooling_layer=True))


def paper_configuration(text_dim: int = 768, hidden: int = 2048, out: int = 1024) -> dict:
    """Counts for ResNet-50 + M-FLAG projections against a BERT-base text encoder."""
    image = count(ImageEncoder("resnet50"))
    proj_v = count(projection(2048, hidden, out))
    proj_t = count(projection(text_dim, hidden, out))
    lm = bert_base_parameters()
    mflag_trainable = image + proj_v + proj_t
    finetuned_trainable = mflag_trainable + lm
    return {
        "resnet50_trunk": image,
        "proj_v": proj_v,
        "proj_t": proj_t,
        "bert_base": lm,
        "mflag": {"trainable": mflag_trainable, "frozen": lm},
        "lm_finetuned": {"trainable": finetuned_trainable, "frozen": 0},
        "reduction": 1 - mflag_trainable / finetuned_trainable,
    }


def method_counts(arch: str = "resnet50", lm_layers: int = 12) -> dict[str, dict[str, int]]:
    """Trainable / frozen parameters of every method in methods.yaml, built as the engine builds
    them (paper options) around a BERT-base-sized LM with ``lm_layers`` layers (MGCA and its
    ConVIRT use the first 6 layers of Bio_ClinicalBERT). Built on the meta device: no memory, no weights."""
    import torch
    from transformers import BertConfig, BertModel

    from benchmark.pretraining.methods import TextInput, load_method_specs, plugin_class
    from benchmark.pretraining.text_encoder import ReportTokens, TrainableTextEncoder

    out = {}
    tokens = ReportTokens(torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 4, dtype=torch.long),
                          torch.zeros(1, 4, dtype=torch.long))
    with torch.device("meta"):
        for name, spec in load_method_specs().items():
            lm = BertModel(BertConfig(num_hidden_layers=lm_layers))
            lm_size = count(lm)
            text = TextInput(dim=lm.config.hidden_size)
            if spec.text.kind == "trainable":
                frozen = spec.text.resolve_frozen(lm_layers, None)
                text.encoder = TrainableTextEncoder(lm, tokens, frozen, last_n=spec.text.last_n, cache_frozen=False)
            method = plugin_class(spec.plugin, name)(ImageEncoder(arch), text, spec.options)
            counts = method.parameter_counts()
            if spec.text.kind == "frozen":
                counts["frozen"] += lm_size
            out[name] = counts
    return out


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.parameters`` does with its parsed arguments."""
    c = paper_configuration()
    if args.json:
        print(json.dumps(c, indent=2, sort_keys=True))
        return 0
    print(f"ResNet-50 trunk            {c['resnet50_trunk']:>12,}")
    print(f"proj_v 2048-2048-1024      {c['proj_v']:>12,}")
    print(f"proj_t  768-2048-1024      {c['proj_t']:>12,}")
    print(f"BERT-base text encoder     {c['bert_base']:>12,}")
    print(f"M-FLAG trains   {c['resnet50_trunk']:,} + {c['proj_v']:,} + {c['proj_t']:,} = {c['mflag']['trainable']:,} "
          f"(LM frozen: {c['bert_base']:,})")
    print(f"LM fine-tuned:  {c['mflag']['trainable']:,} + {c['bert_base']:,} = {c['lm_finetuned']['trainable']:,}")
    print(f"reduction: 1 - {c['mflag']['trainable']:,} / {c['lm_finetuned']['trainable']:,} = {c['reduction']:.1%}")
    print("\nper method, as built by the engine with paper options (ResNet-50; BERT-base, 12 layers):")
    for name, n in method_counts().items():
        print(f"  {name:22s} trainable {n['trainable']:>12,}   frozen {n['frozen']:>12,}")
    return 0
