"""Readers: one per dataset, from the real raw on-disk layout to a records table.

A reader's :meth:`records` returns one row per image with at least ``id`` (unique),
``group`` (the patient: the unit no split may divide), ``path`` (relative to the
root) and the dataset's targets; :meth:`load_image` decodes one file to uint8.
Real and phantom copies go through the same code.
"""

# The registry of readers is a view of the dataset specs: benchmark.data.datasets.READERS and
# get_reader. Kept out of this package's __init__ so that importing one reader (or the base
# class) does not make a stage depend on every dataset's spec.
