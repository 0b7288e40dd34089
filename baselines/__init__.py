"""Baseline pre-training methods and initialisation baselines (registered on import)."""

from baselines.convirt import ConVIRT
from baselines.gloria import GLoRIA
from baselines.imagenet_init import ImageNetInit
from baselines.mgca import MGCA
from baselines.random_init import RandomInit
from baselines.supervised import SupervisedLabels

__all__ = ["ConVIRT", "GLoRIA", "ImageNetInit", "MGCA", "RandomInit", "SupervisedLabels"]
