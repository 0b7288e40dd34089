"""Data: readers of the raw layouts, phantom datasets, the preprocessed store, split manifests,
image decoding and the transforms that feed the models."""
