"""Phantom datasets: real annotations and reports, rendered images, real raw layouts.

Where torchxrayvision ships the real annotation file (MIMIC-style reports from IU X-ray,
CheXpert, RSNA, SIIM, NIH) the phantom reuses it; COVIDx and Object-CXR use documented
synthetic annotations. Every writer takes ``(out, *, seed, image_size, workers, **sizes)``.
"""

from benchmark.phantom.chexpert import write_chexpert
from benchmark.phantom.covidx import write_covidx
from benchmark.phantom.mimic import write_mimic
from benchmark.phantom.nih import write_nih
from benchmark.phantom.object_cxr import write_object_cxr
from benchmark.phantom.rsna import write_rsna
from benchmark.phantom.siim import write_siim

WRITERS = {
    "mimic": write_mimic,
    "chexpert": write_chexpert,
    "rsna": write_rsna,
    "covidx": write_covidx,
    "siim": write_siim,
    "object_cxr": write_object_cxr,
    "nih": write_nih,
}

__all__ = ["WRITERS"]
