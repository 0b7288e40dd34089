"""Benchmark harness for medical vision-language pre-training on chest X-rays.

Data flows one way: raw layout -> reader -> preprocessed store -> split manifests
-> training / evaluation -> one JSON per run -> report. Each stage is a module
runnable as ``python -m benchmark.<stage>`` and a DVC stage in ``dvc.yaml``.
"""

__version__ = "0.1.0"
