"""Atomic outputs: write under a temporary name, rename only when complete.

A stage that dies half-way must not leave a file or folder that DVC or the next
stage would take as finished, so every output goes through these helpers.

Temporary siblings are named ``.<target name>.<pid>.<random>.tmp``: hidden (every reader
of a folder of outputs skips names starting with ``.``, see :func:`is_hidden`) and
tagged with the writing process. A process killed before its rename (SIGKILL, power
loss) leaves such a sibling behind; the next write of the same target removes the
siblings whose process is gone (:func:`remove_stale_siblings`), so they never pile up
and are never renamed into place.

Test hook: with ``BENCHMARK_KILL_BEFORE_RENAME=<target name>`` in the environment, the
process SIGKILLs itself right before renaming that target into place (every byte of
the new version written, nothing renamed: the worst moment to die).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

#: what follows ".<target name>." in a temporary sibling's name: [pid.]random[.old] (mkstemp's
#: random part has no dots); names without a pid come from older versions of this module
_TMP_TAG = re.compile(r"(?:(\d+)\.)?[A-Za-z0-9_]+(?:\.old)?")

#: test hook: SIGKILL the own process right before renaming a target of this name into place
KILL_BEFORE_RENAME_ENV = "BENCHMARK_KILL_BEFORE_RENAME"


def is_hidden(path: str | Path, root: str | Path | None = None) -> bool:
    """Whether ``path`` (or a folder between ``root`` and it) is hidden: a temporary or stale
    sibling of an output, never an output itself."""
    path = Path(path)
    parts = path.relative_to(root).parts if root is not None else (path.name,)
    return any(part.startswith(".") for part in parts)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_siblings(target: str | Path) -> list[Path]:
    """Delete the temporary siblings of ``target`` left by processes that no longer run.

    Siblings of live processes (another run writing the same target right now) are kept;
    names without a process id (older versions of this module) are stale by definition.
    """
    target = Path(target)
    prefix = f".{target.name}."
    removed: list[Path] = []
    if not target.parent.is_dir():
        return removed
    for sibling in target.parent.iterdir():
        name = sibling.name
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        tag = _TMP_TAG.fullmatch(name[len(prefix):-len(".tmp")])
        if tag is None:
            continue  # another target's sibling (e.g. of "NAME.bak")
        owner = tag.group(1)
        if owner is not None and (int(owner) == os.getpid() or _pid_alive(int(owner))):
            continue  # being written right now (by this process or another one)
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)
        removed.append(sibling)
    return removed


def _kill_if_asked(target: Path) -> None:
    if os.environ.get(KILL_BEFORE_RENAME_ENV) == target.name:
        os.kill(os.getpid(), signal.SIGKILL)


def _prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces ``target``, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    fd, tmp_name = tempfile.mkstemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary files
        _kill_if_asked(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``target`` as a whole.

    An existing ``target`` is moved aside (to a hidden ``.tmp`` sibling) only after the new
    folder is complete, then deleted; until then the previous complete version is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(target)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        _kill_if_asked(target)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=_prefix(target), suffix=".old.tmp", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically with sorted keys, so equal content gives equal bytes."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | Path, frame: pd.DataFrame) -> None:
    """CSV, gzipped when the name ends in .gz: same content gives the same bytes.

    The gzip header holds neither a timestamp nor a file name (the temporary name
    would otherwise leak into it).
    """
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
                fh.write(frame.to_csv(index=False).encode())
        else:
            frame.to_csv(tmp, index=False)
