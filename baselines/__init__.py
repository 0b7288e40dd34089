"""Baseline pre-training methods, init baselines and controls, one module each.

Each module registers its plug-in when imported (``benchmark.pretraining.methods.PLUGIN_MODULES`` says
which); the package imports none of them, so that a broken plug-in breaks only its own methods.
"""
