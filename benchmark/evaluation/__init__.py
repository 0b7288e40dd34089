"""Evaluation of frozen encoders: pooled features, linear probes, segmentation and detection
heads (native or the OpenMMLab backend), their training loop, metrics and feature geometry."""
