"""Phantom datasets: real annotations and reports, rendered images, real raw layouts.

Where torchxrayvision ships the real annotation file (MIMIC-style reports from IU X-ray,
CheXpert, RSNA, SIIM, NIH) the phantom reuses it; COVIDx and Object-CXR use documented
synthetic annotations. Every writer takes ``(out, *, seed, image_size, workers, **sizes)``.
"""

from benchmark.core.registry import LazyRegistry

#: dataset -> its writer, imported on first use (a stage imports only the writer it runs)
WRITERS = LazyRegistry({
    "mimic": "benchmark.data.phantom.mimic:write_mimic",
    "chexpert": "benchmark.data.phantom.chexpert:write_chexpert",
    "rsna": "benchmark.data.phantom.rsna:write_rsna",
    "covidx": "benchmark.data.phantom.covidx:write_covidx",
    "siim": "benchmark.data.phantom.siim:write_siim",
    "object_cxr": "benchmark.data.phantom.object_cxr:write_object_cxr",
    "nih": "benchmark.data.phantom.nih:write_nih",
})

__all__ = ["WRITERS"]
