"""Pre-training: the method registry and specs, image and text encoders, report embeddings,
the engine, checkpoints, imported and ImageNet weights, parameter counts."""
