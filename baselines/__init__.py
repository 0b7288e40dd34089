"""Baseline pre-training methods and initialisation baselines (registered on import)."""

from baselines.random_init import RandomInit

__all__ = ["RandomInit"]
