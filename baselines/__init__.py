"""Baseline pre-training methods and initialisation baselines (registered on import)."""

from baselines.imagenet_init import ImageNetInit
from baselines.random_init import RandomInit

__all__ = ["ImageNetInit", "RandomInit"]
