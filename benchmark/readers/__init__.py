"""Readers: one per dataset, from the real raw on-disk layout to a records table.

A reader's :meth:`records` returns one row per image with at least ``id`` (unique),
``group`` (the patient: the unit no split may divide), ``path`` (relative to the
root) and the dataset's targets; :meth:`load_image` decodes one file to uint8.
Real and phantom copies go through the same code.
"""

from benchmark.errors import DataError
from benchmark.readers.base import Reader
from benchmark.readers.chexpert import CheXpertReader
from benchmark.readers.covidx import CovidxReader
from benchmark.readers.mimic import MimicCxrJpgReader
from benchmark.readers.nih import NihChestXray14Reader
from benchmark.readers.object_cxr import ObjectCxrReader
from benchmark.readers.rsna import RsnaPneumoniaReader
from benchmark.readers.siim import SiimPneumothoraxReader

READERS: dict[str, type[Reader]] = {
    "mimic": MimicCxrJpgReader,
    "chexpert": CheXpertReader,
    "rsna": RsnaPneumoniaReader,
    "covidx": CovidxReader,
    "siim": SiimPneumothoraxReader,
    "object_cxr": ObjectCxrReader,
    "nih": NihChestXray14Reader,
}


def get_reader(name: str) -> Reader:
    if name not in READERS:
        raise DataError(None, f"unknown dataset {name!r} (have: {', '.join(READERS)})")
    return READERS[name]()


__all__ = ["READERS", "Reader", "get_reader"]
