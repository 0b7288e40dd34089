"""Phantom datasets: real annotations and reports, rendered images, real raw layouts.

Where torchxrayvision ships the real annotation file (MIMIC-style reports from IU X-ray,
CheXpert, RSNA, SIIM, NIH) the phantom reuses it; COVIDx and Object-CXR use documented
synthetic annotations. Every writer takes ``(out, *, seed, image_size, workers, **sizes)``.
"""

# The registry of writers is a view of the dataset specs: benchmark.data.datasets.WRITERS.
