"""Readers: one per dataset, from the real raw on-disk layout to a records table.

A reader's :meth:`records` returns one row per image with at least ``id`` (unique),
``group`` (the patient: the unit no split may divide), ``path`` (relative to the
root) and the dataset's targets; :meth:`load_image` decodes one file to uint8.
Real and phantom copies go through the same code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.core.errors import DataError
from benchmark.core.registry import LazyRegistry

if TYPE_CHECKING:  # the base class imports pandas; listing the readers (a --help) must not
    from benchmark.data.readers.base import Reader

#: dataset -> its reader class, imported on first use (a stage imports only the reader it runs)
READERS = LazyRegistry({
    "mimic": "benchmark.data.readers.mimic:MimicCxrJpgReader",
    "chexpert": "benchmark.data.readers.chexpert:CheXpertReader",
    "rsna": "benchmark.data.readers.rsna:RsnaPneumoniaReader",
    "covidx": "benchmark.data.readers.covidx:CovidxReader",
    "siim": "benchmark.data.readers.siim:SiimPneumothoraxReader",
    "object_cxr": "benchmark.data.readers.object_cxr:ObjectCxrReader",
    "nih": "benchmark.data.readers.nih:NihChestXray14Reader",
})


#: entry-point group through which another installed package adds readers ("module:Class")
ENTRY_POINT_GROUP = "medvlp_bench.readers"


def _add_installed_readers() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        READERS.add(entry.name, entry.value)


def get_reader(name: str) -> Reader:
    _add_installed_readers()
    if name not in READERS:
        raise DataError(None, f"unknown dataset {name!r} (have: {', '.join(READERS)})")
    return READERS[name]()


__all__ = ["READERS", "get_reader"]
