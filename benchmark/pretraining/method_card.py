"""``python -m benchmark.method_card --method NAME --out data/methods/NAME.json``: what one method's pre-training depends on.

``methods.yaml`` holds every method, ``params.yaml`` one pre-training section for all of them,
and ``mflag/`` and ``baselines/`` every plug-in: as DVC dependencies of each ``pretrain@``
stage, editing one method would re-run them all (days of GPU time on the paper profile).
This cheap stage resolves what *one* method uses -- its entry (with ``base:`` merged), its
plug-in, the profile's settings with its own ``method_options`` and ``method_overrides``,
the language-model settings if it reads text, and the SHA-256 of every source file its
plug-in imports -- into one JSON card that its ``pretrain@`` stage depends on instead. The
cards of the methods an edit does not touch come out byte-identical, so DVC leaves their
``pretrain@`` stages up to date.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from benchmark.core.config import load_profile
from benchmark.core.errors import DataError


def plugin_sources(module: str) -> dict[str, str]:
    """Path -> SHA-256 of the plug-in's module and every project module it imports (for a plug-in
    of another installed package: its module file)."""
    from benchmark.core.code_graph import closure, module_file, source_hashes

    if module_file(module) is None:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise DataError(None, f"plug-in module {module!r} not found")
        files = [Path(spec.origin)]
    else:
        files = [module_file(name) for name in sorted(closure(module))]
    return source_hashes(files)


def method_card(name: str, profile: dict) -> dict:
    from benchmark.pretraining.method_specs import get_method, method_config, method_options, plugin_modules

    spec = get_method(name)
    modules = plugin_modules()
    if spec.plugin not in modules:
        raise DataError(None, f"method {name!r}: unknown plug-in {spec.plugin!r} (have: {', '.join(sorted(modules))})")
    cfg = method_config(spec, profile["pretrain"])
    return {
        "method": name, "plugin": spec.plugin, "title": spec.title, "control": spec.control,
        "text": spec.text.__dict__, "options": method_options(spec, cfg),
        "pretrain": {k: v for k, v in cfg.items() if k not in ("method_options", "method_overrides")},
        "lm": profile["lm"] if spec.text.kind != "none" else None,
        "sources": plugin_sources(modules[spec.plugin]),
    }


def run(args: argparse.Namespace) -> int:
    """What ``python -m benchmark.method_card`` does with its parsed arguments."""
    from benchmark.core.atomic import write_text

    card = method_card(args.method, load_profile(args.params, args.profile))
    write_text(args.out, json.dumps(card, indent=2, sort_keys=True) + "\n")
    print(f"method_card {args.method}: {card['plugin']} plug-in, {len(card['sources'])} source files -> {args.out}")
    return 0
