"""Readers: one per dataset, from the real raw on-disk layout to a records table.

A reader's :meth:`records` returns one row per image with at least ``id`` (unique),
``group`` (the patient: the unit no split may divide), ``path`` (relative to the
root) and the dataset's targets; :meth:`load_image` decodes one file to uint8.
Real and phantom copies go through the same code.
"""

from benchmark.errors import DataError
from benchmark.readers.base import Reader
from benchmark.registry import LazyRegistry

#: dataset -> its reader class, imported on first use (a stage imports only the reader it runs)
READERS = LazyRegistry({
    "mimic": "benchmark.readers.mimic:MimicCxrJpgReader",
    "chexpert": "benchmark.readers.chexpert:CheXpertReader",
    "rsna": "benchmark.readers.rsna:RsnaPneumoniaReader",
    "covidx": "benchmark.readers.covidx:CovidxReader",
    "siim": "benchmark.readers.siim:SiimPneumothoraxReader",
    "object_cxr": "benchmark.readers.object_cxr:ObjectCxrReader",
    "nih": "benchmark.readers.nih:NihChestXray14Reader",
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


__all__ = ["READERS", "Reader", "get_reader"]
