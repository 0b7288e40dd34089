"""Profiles: every stage reads its settings from ``params.yaml`` (the active profile).

``params.yaml`` holds ``profile: NAME`` and ``profiles: {NAME: {...}}``. Profiles are
written out in full: DVC tracks ``profiles.<active>.<section>`` per stage, so every value
a stage reads must live under the active profile itself. Stages take ``--params`` and
``--profile`` so they also run outside DVC.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from benchmark.core.errors import DataError, first_line

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "params file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DataError(path, f"not valid YAML ({first_line(err)})") from None
    if not isinstance(data, dict) or "profiles" not in data:
        raise DataError(path, "missing 'profiles' mapping")
    return data


def resolve_profile(params: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """Return the named (or active) profile, with its name under ``name``."""
    name = name or params.get("profile")
    profiles = params["profiles"]
    if name not in profiles:
        raise DataError(DEFAULT_PARAMS, f"unknown profile {name!r} (have: {', '.join(profiles)})")
    return {**profiles[name], "name": name}


def load_profile(params_path: str | Path = DEFAULT_PARAMS, name: str | None = None) -> dict[str, Any]:
    """The named (or active) profile, checked against :mod:`benchmark.core.profile_schema` before any
    stage uses a value of it."""
    from benchmark.core.profile_schema import profile_problem

    profile = resolve_profile(load_params(params_path), name)
    problem = profile_problem({k: v for k, v in profile.items() if k != "name"})
    if problem:
        raise DataError(params_path, f"profiles.{profile['name']}.{problem}")
    return profile


def add_profile_args(parser) -> None:
    """The two options every stage shares."""
    parser.add_argument("--params", default=str(DEFAULT_PARAMS), help="params file (default: params.yaml)")
    parser.add_argument("--profile", default=None, help="profile name (default: the 'profile' key of the params file)")
