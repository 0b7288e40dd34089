"""Benchmark harness for medical vision-language pre-training on chest X-rays.

Data flows one way: raw layout -> reader -> preprocessed store -> split manifests
-> training / evaluation -> one JSON per run -> report. Each stage is a module
runnable as ``python -m benchmark.<stage>`` and a DVC stage in ``dvc.yaml``.

The commands are thin modules at this level (parse, then import); the libraries live in
subpackages by role, in pipeline order: ``core`` (profiles, errors, atomic writes),
``data`` (readers, phantoms, store, splits), ``pretraining`` (methods, encoders, the engine),
``evaluation`` (features, probes, heads, metrics), ``reporting`` (results, tables, plots,
comparison) and ``tools`` (smoke run, cache benchmark, code dependencies).
"""

__version__ = "0.1.0"
