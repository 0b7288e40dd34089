"""Phantom datasets: real annotations and reports, rendered images, real raw layouts."""

from benchmark.phantom.mimic import write_mimic
from benchmark.phantom.rsna import write_rsna

# dataset name -> writer(out_dir, *, seed, image_size, **dataset settings from the profile)
WRITERS = {"mimic": write_mimic, "rsna": write_rsna}

__all__ = ["WRITERS", "write_mimic", "write_rsna"]
