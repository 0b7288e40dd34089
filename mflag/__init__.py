"""M-FLAG: image encoder aligned to a frozen language model with an orthogonality loss.

The plug-in lives in :mod:`mflag.model` and its losses in :mod:`mflag.losses`; the package
imports nothing itself, so that loading one method never imports another.
"""
