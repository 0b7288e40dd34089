"""Real annotation files shipped inside the installed torchxrayvision package.

Phantom datasets reuse real reports, patient IDs, boxes and masks; this module is
the one place that finds them (through importlib.resources, never copied into the
repo) and turns IU X-ray MeSH tags into renderable findings.
"""

from __future__ import annotations

import importlib.util
import re
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from benchmark.core.errors import DataError
from benchmark.data.phantom.anatomy import Finding


def txv_data_file(name: str) -> Path:
    """Path of a file in ``torchxrayvision/data`` of the installed package.

    The package is located, not imported: importing it imports torch and torchvision (4 s of
    every phantom stage, most of its time at the smoke size)."""
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("torchxrayvision", "package not installed; run `pip install -e .`")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name
    if not path.is_file():
        raise DataError(path, "file missing from the installed torchxrayvision package")
    return path


@dataclass(frozen=True)
class IUReport:
    """One Indiana University chest X-ray report with its MeSH major tags."""

    uid: str
    indication: str
    comparison: str
    findings: str
    impression: str
    mesh: tuple[str, ...]


def _text(node: ET.Element | None) -> str:
    return " ".join((node.text or "").split()) if node is not None else ""


@lru_cache(maxsize=1)
def load_iu_reports() -> tuple[IUReport, ...]:
    """All reports of ``NLMCXR_reports.tgz`` in a fixed order (by numeric report id)."""
    path = txv_data_file("NLMCXR_reports.tgz")
    reports = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.endswith(".xml"):
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            root = ET.fromstring(fh.read())
            sections = {n.get("Label", "").upper(): _text(n) for n in root.iter("AbstractText")}
            uid_node = root.find("uId")
            uid = uid_node.get("id", member.name) if uid_node is not None else member.name
            mesh = tuple(_text(n) for n in root.iter("major") if _text(n))
            reports.append(
                IUReport(
                    uid=uid,
                    indication=sections.get("INDICATION", ""),
                    comparison=sections.get("COMPARISON", ""),
                    findings=sections.get("FINDINGS", ""),
                    impression=sections.get("IMPRESSION", ""),
                    mesh=mesh,
                )
            )
    reports.sort(key=lambda r: int(re.sub(r"\D", "", r.uid) or 0))
    return tuple(reports)


# MeSH heading (text before the first '/') -> finding kind the renderer draws.
MESH_TO_KIND: dict[str, str] = {
    "Cardiomegaly": "cardiomegaly",
    "Pleural Effusion": "effusion",
    "Opacity": "opacity",
    "Airspace Disease": "opacity",
    "Consolidation": "opacity",
    "Infiltrate": "opacity",
    "Pneumonia": "opacity",
    "Density": "opacity",
    "Nodule": "nodule",
    "Mass": "mass",
    "Calcified Granuloma": "granuloma",
    "Granuloma": "granuloma",
    "Granulomatous Disease": "granuloma",
    "Pneumothorax": "pneumothorax",
    "Pulmonary Edema": "edema",
    "Pulmonary Congestion": "edema",
    "Edema": "edema",
    "Pulmonary Atelectasis": "atelectasis",
    "Emphysema": "hyperinflation",
    "Pulmonary Emphysema": "hyperinflation",
    "Pulmonary Disease, Chronic Obstructive": "hyperinflation",
    "Lung, Hyperlucent": "hyperinflation",
    "Implanted Medical Device": "device",
    "Medical Device": "device",
    "Catheters, Indwelling": "catheter",
    "Tube, Inserted": "catheter",
    "Scoliosis": "scoliosis",
}
_SEVERITY = {"borderline": 0.25, "minimal": 0.3, "mild": 0.4, "small": 0.45, "moderate": 0.7, "severe": 1.0, "large": 1.0}
_ZONE = {"base": "lower", "lower lobe": "lower", "upper lobe": "upper", "apex": "upper", "middle lobe": "middle", "lingula": "middle"}


def findings_from_mesh(tags: tuple[str, ...]) -> list[Finding]:
    """Translate MeSH major tags such as ``Opacity/lung/base/left/mild`` into findings."""
    out: list[Finding] = []
    for tag in tags:
        head, *mods = [p.strip() for p in tag.split("/")]
        kind = MESH_TO_KIND.get(head)
        if head == "Lung" and "hyperdistention" in mods:
            kind = "hyperinflation"
        elif head == "Lung" and "hypoinflation" in mods:
            kind = "hypoinflation"
        if kind is None:
            continue
        side = next((m for m in mods if m in ("left", "right", "bilateral")), "any")
        zone = next((_ZONE[m] for m in mods if m in _ZONE), "any")
        severity = next((_SEVERITY[m] for m in mods if m in _SEVERITY), 0.7)
        out.append(Finding(kind=kind, side=side, zone=zone, severity=severity))
    return out
